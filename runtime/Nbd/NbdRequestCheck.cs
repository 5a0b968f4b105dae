namespace NativeBdev.Nbd;

/// <summary>Whether a request may go to the bdev, as a pure function: 0, or the NBD error
/// its reply carries. The protocol's choices: beyond the end EINVAL for reads and block
/// status, ENOSPC for writes; a read over the payload limit EOVERFLOW when structured
/// replies can say so; writes to a read-only export EPERM; a flag or command the server
/// did not advertise, a length of 0 and misalignment to the minimum block size EINVAL.</summary>
internal static class NbdRequestCheck
{
    public static uint Check(in NbdRequest r, in NbdExportGeometry g, bool structured, bool metaContext)
    {
        uint flagError = Flags(r, g, metaContext);
        if (flagError != 0)
        {
            return flagError;
        }
        switch (r.Type)
        {
            case NbdProtocol.CmdRead:
                if (r.Length > g.MaxPayloadBytes)
                {
                    return structured ? NbdProtocol.EOVERFLOW : NbdProtocol.EINVAL;
                }
                return Range(r, g, NbdProtocol.EINVAL, aligned: true);
            case NbdProtocol.CmdWrite:
                if (g.ReadOnly)
                {
                    return NbdProtocol.EPERM;
                }
                return r.Length > g.MaxPayloadBytes
                    ? NbdProtocol.EINVAL
                    : Range(r, g, NbdProtocol.ENOSPC, aligned: true);
            case NbdProtocol.CmdTrim:
            case NbdProtocol.CmdWriteZeroes:
                if (g.ReadOnly)
                {
                    return NbdProtocol.EPERM;
                }
                ushort advertised = r.Type == NbdProtocol.CmdTrim
                    ? NbdProtocol.FlagSendTrim
                    : NbdProtocol.FlagSendWriteZeroes;
                return !g.Has(advertised) ? NbdProtocol.EINVAL : Range(r, g, NbdProtocol.ENOSPC, aligned: true);
            case NbdProtocol.CmdFlush:
                return g.Has(NbdProtocol.FlagSendFlush) ? 0 : NbdProtocol.EINVAL;
            case NbdProtocol.CmdBlockStatus:
                if (!structured || !metaContext)
                {
                    return NbdProtocol.EINVAL;
                }
                return Range(r, g, NbdProtocol.EINVAL, aligned: false);
            case NbdProtocol.CmdDisc:
                return 0;
            default:
                return NbdProtocol.EINVAL;
        }
    }

    /// <summary>Each command takes only the flags defined for it, and only those the
    /// server advertised (no DF, no FAST_ZERO here).</summary>
    private static uint Flags(in NbdRequest r, in NbdExportGeometry g, bool metaContext)
    {
        ushort allowed = g.Has(NbdProtocol.FlagSendFua) ? NbdProtocol.CmdFlagFua : (ushort)0;
        if (r.Type == NbdProtocol.CmdWriteZeroes)
        {
            allowed |= NbdProtocol.CmdFlagNoHole;
        }
        if (r.Type == NbdProtocol.CmdBlockStatus && metaContext)
        {
            allowed |= NbdProtocol.CmdFlagReqOne;
        }
        return (r.Flags & ~allowed) != 0 ? NbdProtocol.EINVAL : 0;
    }

    private static uint Range(in NbdRequest r, in NbdExportGeometry g, uint beyondEnd, bool aligned)
    {
        if (r.Length == 0)
        {
            return NbdProtocol.EINVAL;
        }
        if (r.Offset > g.SizeBytes || r.Length > g.SizeBytes - r.Offset)
        {
            return beyondEnd;
        }
        if (aligned && ((r.Offset | r.Length) & (g.BlockSize - 1)) != 0)
        {
            return NbdProtocol.EINVAL;
        }
        return 0;
    }
}
