using System;
using System.Buffers.Binary;
using System.Text;
using NativeBdev.Nvme;

namespace NativeBdev.Targets.Nvmf;

/// <summary>The data structures the admin commands return (NVMe base specification 1.4:
/// Identify Controller, Identify Namespace, Active Namespace ID list, Namespace
/// Identification Descriptors; NVMe over Fabrics 1.1: the I/O controller's fabrics fields).
/// Pure functions over a zeroed 4 KiB page.</summary>
internal static class NvmfIdentify
{
    public const int PageBytes = 4096;
    public const uint Version = 0x00010300; // 1.3, as SPDK's target reports
    public const string Firmware = "NB 0.1";
    public const ushort KeepAliveGranularity = 10; // KAS in 100 ms units: 1 s

    // CNS values the target answers; every other one is Invalid Field (Linux 6.13+ tries 08h first).
    public const uint CnsNamespaceDescriptors = 0x03;

    /// <summary>Identify Controller for <paramref name="c"/>.</summary>
    public static void Controller(Span<byte> p, NvmfController c, NvmfTransportOptions o)
    {
        NvmfSubsystem s = c.Subsystem;
        p.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(p[0..], 0x4E42);  // VID: none registered ("NB")
        BinaryPrimitives.WriteUInt16LittleEndian(p[2..], 0x4E42);  // SSVID
        Ascii(p.Slice(NvmeSpec.IdCtrlSerial, 20), s.Serial);
        Ascii(p.Slice(NvmeSpec.IdCtrlModel, 40), s.Model);
        Ascii(p.Slice(NvmeSpec.IdCtrlFirmware, 8), Firmware);
        p[72] = 6;                                                  // RAB
        p[76] = s.IsDiscovery ? (byte)0 : (byte)0x02;               // CMIC: may have several controllers
        p[NvmeSpec.IdCtrlMdts] = o.Mdts;
        BinaryPrimitives.WriteUInt16LittleEndian(p[78..], c.Cntlid);
        BinaryPrimitives.WriteUInt32LittleEndian(p[NvmeSpec.IdCtrlVersion..], Version);
        if (!s.IsDiscovery)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(p[92..], NvmeSpec.AsyncEventNamespaceAttribute); // OAES
        }
        p[111] = s.IsDiscovery ? (byte)2 : (byte)1;                 // CNTRLTYPE: discovery or I/O
        p[258] = 3;                                                 // ACL: 4 aborts (0's based)
        p[NvmeSpec.IdCtrlAerl] = NvmfController.MaxAsyncEvents - 1;
        p[260] = 0x03;                                              // FRMW: slot 1 read only, 1 slot
        p[261] = 0x06;                                              // LPA: effects log, extended data
        p[262] = 127;                                               // ELPE: 128 error log entries
        BinaryPrimitives.WriteUInt16LittleEndian(p[320..], KeepAliveGranularity); // KAS
        p[NvmeSpec.IdCtrlSqes] = 0x66;
        p[NvmeSpec.IdCtrlCqes] = 0x44;
        BinaryPrimitives.WriteUInt16LittleEndian(p[514..], (ushort)o.MaxQueueDepth); // MAXCMD
        if (!s.IsDiscovery)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(p[NvmeSpec.IdCtrlNn..], (uint)s.MaxNamespaces);
            BinaryPrimitives.WriteUInt16LittleEndian(p[NvmeSpec.IdCtrlOncs..],
                NvmeSpec.OncsCompare | NvmeSpec.OncsDatasetManagement | NvmeSpec.OncsWriteZeroes);
            p[NvmeSpec.IdCtrlVwc] = c.WriteCache ? (byte)1 : (byte)0;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(p[536..], 1);      // SGLS: SGLs, no alignment needed
        Ascii(p.Slice(768, 256), s.Nqn, pad: 0);                    // SUBNQN
        // Fabrics: IOCCSZ in 16-byte units (SQE + in-capsule data), IORCSZ 1 (a CQE), ICDOFF 0,
        // FCATT 0 (dynamic controllers), MSDBD 1.
        BinaryPrimitives.WriteUInt32LittleEndian(p[1792..], (uint)(64 + o.InCapsuleDataSize) / 16);
        BinaryPrimitives.WriteUInt32LittleEndian(p[1796..], 1);
        p[1803] = 1;
    }

    /// <summary>Identify Namespace of an active namespace (its bdev's size and block size).</summary>
    public static void Namespace(Span<byte> p, NvmfNamespace ns)
    {
        p.Clear();
        ulong blocks = ns.Bdev.BlockCount;
        BinaryPrimitives.WriteUInt64LittleEndian(p[0..], blocks);   // NSZE
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], blocks);   // NCAP
        BinaryPrimitives.WriteUInt64LittleEndian(p[16..], blocks);  // NUSE
        p[25] = 0;                                                  // NLBAF: one format
        p[26] = 0;                                                  // FLBAS: format 0
        p[30] = 1;                                                  // NMIC: may be shared
        ns.Nguid.CopyTo(p[NvmeSpec.IdNsNguid..]);
        BinaryPrimitives.WriteUInt64BigEndian(p[120..], ns.Eui64);
        int lbads = System.Numerics.BitOperations.Log2(ns.Bdev.BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(p[NvmeSpec.IdNsLbaf..], (uint)lbads << 16);
    }

    /// <summary>Active NSIDs above <paramref name="after"/>, ascending, up to 1024.</summary>
    public static void ActiveNamespaces(Span<byte> p, NvmfSubsystem s, uint after)
    {
        p.Clear();
        int n = 0;
        foreach (NvmfNamespace ns in s.Namespaces)
        {
            if (ns.Nsid > after && n < PageBytes / 4)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(p[(n++ * 4)..], ns.Nsid);
            }
        }
    }

    /// <summary>Namespace Identification Descriptors: EUI64, NGUID, UUID (those set), and
    /// the command set (NVM).</summary>
    public static void Descriptors(Span<byte> p, NvmfNamespace ns)
    {
        p.Clear();
        int at = 0;
        if (ns.Eui64 != 0)
        {
            p[at] = 1;
            p[at + 1] = 8;
            BinaryPrimitives.WriteUInt64BigEndian(p[(at + 4)..], ns.Eui64);
            at += 12;
        }
        if (Array.Exists(ns.Nguid, b => b != 0))
        {
            p[at] = 2;
            p[at + 1] = 16;
            ns.Nguid.CopyTo(p[(at + 4)..]);
            at += 20;
        }
        if (ns.Uuid != Guid.Empty)
        {
            p[at] = 3;
            p[at + 1] = 16;
            ns.Uuid.TryWriteBytes(p.Slice(at + 4, 16), bigEndian: true, out _);
            at += 20;
        }
        p[at] = 4;  // CSI: the NVM command set
        p[at + 1] = 1;
    }

    /// <summary>Commands Supported and Effects (log 05h): what the target executes.</summary>
    public static void CommandEffects(Span<byte> p)
    {
        p.Clear();
        ReadOnlySpan<byte> admin = [NvmeSpec.AdminGetLogPage, NvmeSpec.AdminIdentify, NvmeSpec.AdminAbort,
            NvmeSpec.AdminSetFeatures, NvmeSpec.AdminGetFeatures, NvmeSpec.AdminAsyncEventRequest,
            NvmeSpec.AdminKeepAlive];
        foreach (byte opc in admin)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(p[(opc * 4)..], 1); // CSUPP
        }
        ReadOnlySpan<byte> io = [NvmeSpec.IoFlush, NvmeSpec.IoWrite, NvmeSpec.IoRead, NvmeSpec.IoWriteZeroes,
            NvmeSpec.IoDatasetManagement];
        foreach (byte opc in io)
        {
            // CSUPP, and LBCC for those that change the medium
            uint effects = opc == NvmeSpec.IoRead ? 1u : 3u;
            BinaryPrimitives.WriteUInt32LittleEndian(p[(1024 + opc * 4)..], effects);
        }
    }

    /// <summary>Firmware Slot Information (log 03h): slot 1 active.</summary>
    public static void FirmwareSlots(Span<byte> p)
    {
        p.Clear();
        p[0] = 1; // AFI: slot 1
        Ascii(p.Slice(8, 8), Firmware);
    }

    /// <summary>The fixed ASCII fields: left-justified, padded with spaces (or zeroes for NQNs).</summary>
    public static void Ascii(Span<byte> field, string value, byte pad = (byte)' ')
    {
        field.Fill(pad);
        int n = Math.Min(field.Length, value.Length);
        Encoding.ASCII.GetBytes(value.AsSpan(0, n), field);
    }
}
