using System;

namespace NativeBdev.Nvme;

/// <summary>An active namespace as identify reports it.</summary>
internal readonly record struct NvmeNamespaceInfo(uint Nsid, uint BlockSize, ulong BlockCount, Guid Uuid);
