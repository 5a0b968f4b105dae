namespace NativeBdev.Nbd;

/// <summary>The numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md), fixed
/// newstyle negotiation and simple and structured replies; everything on the wire is
/// big-endian.</summary>
internal static class NbdProtocol
{
    // Handshake.
    public const ulong NbdMagic = 0x4e42444d41474943;        // "NBDMAGIC"
    public const ulong OptionMagic = 0x49484156454F5054;     // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const ushort FlagFixedNewstyle = 1 << 0;
    public const ushort FlagNoZeroes = 1 << 1;
    public const uint ClientFlagFixedNewstyle = 1 << 0;
    public const uint ClientFlagNoZeroes = 1 << 1;

    // Options.
    public const uint OptExportName = 1;
    public const uint OptAbort = 2;
    public const uint OptList = 3;
    public const uint OptStartTls = 5;
    public const uint OptInfo = 6;
    public const uint OptGo = 7;
    public const uint OptStructuredReply = 8;
    public const uint OptListMetaContext = 9;
    public const uint OptSetMetaContext = 10;

    // Option replies.
    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepMetaContext = 4;
    public const uint RepErrUnsup = 0x80000001;
    public const uint RepErrPolicy = 0x80000002;
    public const uint RepErrInvalid = 0x80000003;
    public const uint RepErrUnknown = 0x80000006;
    public const uint RepErrShutdown = 0x80000007;
    public const uint RepErrTooBig = 0x80000009;

    // NBD_INFO_*.
    public const ushort InfoExport = 0;
    public const ushort InfoName = 1;
    public const ushort InfoDescription = 2;
    public const ushort InfoBlockSize = 3;

    // Transmission flags.
    public const ushort FlagHasFlags = 1 << 0;
    public const ushort FlagReadOnly = 1 << 1;
    public const ushort FlagSendFlush = 1 << 2;
    public const ushort FlagSendFua = 1 << 3;
    public const ushort FlagSendTrim = 1 << 5;
    public const ushort FlagSendWriteZeroes = 1 << 6;
    public const ushort FlagCanMultiConn = 1 << 8;

    // Requests.
    public const uint RequestMagic = 0x25609513;
    public const int RequestHeaderBytes = 28;
    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdBlockStatus = 7;
    public const ushort CmdFlagFua = 1 << 0;
    public const ushort CmdFlagNoHole = 1 << 1;
    public const ushort CmdFlagDf = 1 << 2;
    public const ushort CmdFlagReqOne = 1 << 3;

    // Replies.
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;
    public const int SimpleReplyBytes = 16;
    public const int StructuredHeaderBytes = 20;
    public const ushort ReplyFlagDone = 1 << 0;
    public const ushort ReplyTypeNone = 0;
    public const ushort ReplyTypeOffsetData = 1;
    public const ushort ReplyTypeBlockStatus = 5;
    public const ushort ReplyTypeError = 0x8001;

    // Errors (NBD_E*: Linux's numbers for these, by the protocol's choice).
    public const uint EPERM = 1;
    public const uint EIO = 5;
    public const uint ENOMEM = 12;
    public const uint EINVAL = 22;
    public const uint ENOSPC = 28;
    public const uint EOVERFLOW = 75;
    public const uint ENOTSUP = 95;
    public const uint ESHUTDOWN = 108;

    /// <summary>The one metadata context served, and the id it is given.</summary>
    public const string BaseAllocation = "base:allocation";
    public const uint BaseAllocationId = 1;

    /// <summary>Export names and query strings: the protocol's 4096-byte string limit.</summary>
    public const int MaxStringBytes = 4096;

    /// <summary>The longest option accepted; longer ones are answered NBD_REP_ERR_TOO_BIG and
    /// end the connection (their data is not read).</summary>
    public const int MaxOptionBytes = 16 << 10;
}
