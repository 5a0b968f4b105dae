using NativeBdev.Nbd;

namespace NativeBdev.Tests.Nbd;

/// <summary>Which requests go to the bdev and which error the others get.</summary>
public class NbdRequestCheckTests
{
    private const ushort AllFlags = NbdProtocol.FlagHasFlags | NbdProtocol.FlagSendFlush | NbdProtocol.FlagSendFua |
        NbdProtocol.FlagSendTrim | NbdProtocol.FlagSendWriteZeroes | NbdProtocol.FlagCanMultiConn;

    private static readonly NbdExportGeometry s_disk = new(1 << 20, 512, 4096, 2 << 20, AllFlags);
    private static readonly NbdExportGeometry s_ro = new(1 << 20, 4096, 4096, 2 << 20,
        NbdProtocol.FlagHasFlags | NbdProtocol.FlagReadOnly | NbdProtocol.FlagSendFlush);

    private static uint Check(ushort type, ulong offset, uint length, ushort flags = 0, bool structured = false,
        bool meta = false, bool ro = false) =>
        NbdRequestCheck.Check(new NbdRequest(flags, type, 1, offset, length), ro ? s_ro : s_disk, structured, meta);

    [Test]
    public async Task Valid_requests_pass()
    {
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 512)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdWrite, (1 << 20) - 512, 512, NbdProtocol.CmdFlagFua)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdWriteZeroes, 0, 1 << 20, NbdProtocol.CmdFlagNoHole)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdTrim, 4096, 4096)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdFlush, 0, 0)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdBlockStatus, 1, 3, NbdProtocol.CmdFlagReqOne, true, true)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdDisc, 0, 0)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 4096, ro: true)).IsEqualTo(0u);
    }

    [Test]
    public async Task Beyond_the_end_is_EINVAL_for_reads_and_ENOSPC_for_writes()
    {
        await Assert.That(Check(NbdProtocol.CmdRead, 1 << 20, 512)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdRead, ulong.MaxValue - 511, 1024)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdWrite, (1 << 20) - 512, 1024)).IsEqualTo(NbdProtocol.ENOSPC);
        await Assert.That(Check(NbdProtocol.CmdTrim, 1 << 20, 512)).IsEqualTo(NbdProtocol.ENOSPC);
        await Assert.That(Check(NbdProtocol.CmdWriteZeroes, ulong.MaxValue, 512)).IsEqualTo(NbdProtocol.ENOSPC);
        await Assert.That(Check(NbdProtocol.CmdBlockStatus, 1 << 20, 1, 0, true, true)).IsEqualTo(NbdProtocol.EINVAL);
    }

    [Test]
    public async Task Over_the_payload_limit_is_EOVERFLOW_only_where_structured_replies_can_say_so()
    {
        await Assert.That(Check(NbdProtocol.CmdRead, 0, (2 << 20) + 512)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdRead, 0, (2 << 20) + 512, structured: true))
            .IsEqualTo(NbdProtocol.EOVERFLOW);
        await Assert.That(Check(NbdProtocol.CmdWrite, 0, (2 << 20) + 512, structured: true))
            .IsEqualTo(NbdProtocol.EINVAL);
    }

    [Test]
    public async Task Misaligned_zero_length_unknown_and_unadvertised_requests_are_EINVAL()
    {
        await Assert.That(Check(NbdProtocol.CmdRead, 1, 512)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdWrite, 0, 513)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdRead, 512, 512, ro: true)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 0)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(9, 0, 512)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(5, 0, 512)).IsEqualTo(NbdProtocol.EINVAL); // CACHE: not advertised
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 512, NbdProtocol.CmdFlagDf, true))
            .IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdWrite, 0, 512, NbdProtocol.CmdFlagNoHole)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 512, 0x100)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdBlockStatus, 0, 512, 0, true, false)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdBlockStatus, 0, 512, 0, false, true)).IsEqualTo(NbdProtocol.EINVAL);
        await Assert.That(Check(NbdProtocol.CmdTrim, 0, 4096, ro: false, flags: 0)).IsEqualTo(0u);
        await Assert.That(Check(NbdProtocol.CmdRead, 0, 4096, NbdProtocol.CmdFlagFua, ro: true))
            .IsEqualTo(NbdProtocol.EINVAL);
    }

    [Test]
    public async Task Writes_to_a_read_only_export_are_EPERM()
    {
        await Assert.That(Check(NbdProtocol.CmdWrite, 0, 4096, ro: true)).IsEqualTo(NbdProtocol.EPERM);
        await Assert.That(Check(NbdProtocol.CmdTrim, 0, 4096, ro: true)).IsEqualTo(NbdProtocol.EPERM);
        await Assert.That(Check(NbdProtocol.CmdWriteZeroes, 0, 4096, ro: true)).IsEqualTo(NbdProtocol.EPERM);
    }
}
