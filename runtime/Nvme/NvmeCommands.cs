using System.Runtime.CompilerServices;
using NativeBdev.Interop;

namespace NativeBdev.Nvme;

/// <summary>The I/O commands of the NVM command set built from a request (SPDK's
/// nvme_ns_cmd.c): one call builds the next command of a request and says what data it
/// moves, so a request larger than the controller's maximum transfer becomes several.</summary>
internal static unsafe class NvmeCommands
{
    /// <summary>Write Zeroes covers at most 65536 blocks per command (NLB is 16 bits).</summary>
    public const ulong MaxZeroesBlocks = 65536;

    /// <summary>The next command of <paramref name="r"/> and its data; advances
    /// <see cref="NvmeRequest.NextByte"/>. <paramref name="range"/> holds a deallocate
    /// range the transport copies at submission.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Next(NvmeRequest* r, ulong maxTransfer, ref NvmeCommand cmd, out NvmeData data)
    {
        data = default;
        int shift = r->BlockShift; // block sizes are powers of two: no division per command
        ulong remaining = r->TotalBytes - r->NextByte;
        ulong slba = r->Lba + (r->NextByte >> shift);
        cmd.Nsid = r->Nsid;
        cmd.Cdw10 = (uint)slba;
        cmd.Cdw11 = (uint)(slba >> 32);
        switch (r->Kind)
        {
            case NvmeRequestKind.Read:
            case NvmeRequestKind.Write:
            {
                ulong n = remaining < maxTransfer ? remaining : maxTransfer;
                cmd.Opcode = r->Kind == NvmeRequestKind.Read ? NvmeSpec.IoRead : NvmeSpec.IoWrite;
                cmd.Cdw12 = (uint)((n >> shift) - 1);
                data.Iovs = r->Iovs;
                data.IovCount = r->IovCount;
                data.Start = r->NextByte;
                data.Length = n;
                r->NextByte += n;
                return;
            }
            case NvmeRequestKind.WriteZeroes:
            {
                ulong blocks = remaining >> shift;
                if (blocks > MaxZeroesBlocks)
                {
                    blocks = MaxZeroesBlocks;
                }
                cmd.Opcode = NvmeSpec.IoWriteZeroes;
                cmd.Cdw12 = (uint)(blocks - 1);
                r->NextByte += blocks << shift;
                return;
            }
            case NvmeRequestKind.Deallocate:
            {
                // One range per command: context attributes 0, length, starting LBA.
                ulong blocks = remaining >> shift;
                if (blocks > 1u << 31)
                {
                    blocks = 1u << 31;
                }
                data.Inline0 = blocks << 32;
                data.Inline1 = slba;
                data.InlineLength = 16;
                cmd.Opcode = NvmeSpec.IoDatasetManagement;
                cmd.Cdw10 = 0;       // one range
                cmd.Cdw11 = 1u << 2; // attribute: deallocate
                r->NextByte += blocks << shift;
                return;
            }
            case NvmeRequestKind.Flush:
                cmd.Opcode = NvmeSpec.IoFlush;
                cmd.Cdw10 = cmd.Cdw11 = 0;
                r->Started = 1;
                return;
            default: // IoPassthru: the caller's command, this namespace, the driver's data pointer
            {
                cmd = *r->Command;
                cmd.Nsid = r->Nsid;
                cmd.Prp1 = cmd.Prp2 = cmd.Mptr = 0; // never the caller's
                r->Started = 1;
                if (r->IovCount > 0 && r->Iovs[0].Length > 0)
                {
                    data = NvmeData.Flat(r->Iovs[0].Base, r->Iovs[0].Length);
                }
                return;
            }
        }
    }

    /// <summary>0, -EIO or -ETIMEDOUT (aborted by request: the driver's timeout) for a
    /// completion's status.</summary>
    public static int StatusToErrno(in NvmeCompletion cpl) => cpl.Success ? 0
        : cpl.Sct == NvmeSpec.SctGeneric && cpl.Sc == NvmeSpec.ScAbortedByRequest ? -Errno.ETIMEDOUT : -Errno.EIO;
}
