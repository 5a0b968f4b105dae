namespace NativeBdev.Env;

/// <summary>How device addresses are derived from virtual ones.</summary>
internal enum IovaMode
{
    /// <summary>IOVA = virtual address: what a VFIO container with an IOMMU is given.</summary>
    Va = 0,
    /// <summary>Physical addresses from /proc/self/pagemap: UIO without an IOMMU.</summary>
    Pa = 1,
}
