namespace NativeBdev.Bdev;

/// <summary>Event types, numbered as SPDK's enum spdk_bdev_event_type.</summary>
internal enum BdevEventType
{
    Remove = 0,
    Resize = 1,
    MediaManagement = 2,
    Failed = 3, // the device monitor retired the bdev (a NativeBdev extension)
}
