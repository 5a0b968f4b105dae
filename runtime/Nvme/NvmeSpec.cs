namespace NativeBdev.Nvme;

/// <summary>Opcodes, register offsets and field encodings used by the driver.</summary>
internal static class NvmeSpec
{
    public const int PageSize = 4096;          // the memory page size the driver sets (CC.MPS = 0)
    public const int PageShift = 12;
    public const int SqEntrySize = 64;
    public const int CqEntrySize = 16;

    // Controller registers (BAR0)
    public const int RegCap = 0x00;
    public const int RegVs = 0x08;
    public const int RegIntms = 0x0C;
    public const int RegIntmc = 0x10;
    public const int RegCc = 0x14;
    public const int RegCsts = 0x1C;
    public const int RegAqa = 0x24;
    public const int RegAsq = 0x28;
    public const int RegAcq = 0x30;
    public const int DoorbellBase = 0x1000;

    public const uint CcEnable = 1;
    public const uint CcShnNormal = 1u << 14;
    public const uint CcShnMask = 3u << 14;
    public const uint CcIosqes = 6u << 16;     // 2^6 = 64-byte SQ entries
    public const uint CcIocqes = 4u << 20;     // 2^4 = 16-byte CQ entries
    public const uint CstsReady = 1;
    public const uint CstsFatal = 2;
    public const uint CstsShstMask = 3u << 2;
    public const uint CstsShstComplete = 2u << 2;

    // Admin opcodes
    public const byte AdminDeleteIoSq = 0x00;
    public const byte AdminCreateIoSq = 0x01;
    public const byte AdminGetLogPage = 0x02;
    public const byte AdminDeleteIoCq = 0x04;
    public const byte AdminCreateIoCq = 0x05;
    public const byte AdminIdentify = 0x06;
    public const byte AdminAbort = 0x08;
    public const byte AdminSetFeatures = 0x09;
    public const byte AdminGetFeatures = 0x0A;
    public const byte AdminAsyncEventRequest = 0x0C;
    public const byte AdminKeepAlive = 0x18;

    // NVM command set opcodes
    public const byte IoFlush = 0x00;
    public const byte IoWrite = 0x01;
    public const byte IoRead = 0x02;
    public const byte IoCompare = 0x05;
    public const byte IoWriteZeroes = 0x08;
    public const byte IoDatasetManagement = 0x09;

    // Identify CNS values
    public const uint CnsNamespace = 0x00;
    public const uint CnsController = 0x01;
    public const uint CnsActiveNamespaces = 0x02;

    // Features
    public const uint FeatureNumberOfQueues = 0x07;
    public const uint FeatureAsyncEventConfig = 0x0B;
    public const uint AsyncEventNamespaceAttribute = 1u << 8;

    // Log pages
    public const byte LogChangedNamespaces = 0x04;

    // Asynchronous event types (completion dword 0, bits 2:0)
    public const int AsyncEventTypeNotice = 2;
    public const int AsyncEventNoticeNamespaceChanged = 0;

    // Status codes (SCT 0, generic)
    public const int SctGeneric = 0;
    public const int ScAbortedByRequest = 0x07;
    public const int ScAbortedSqDeletion = 0x08;
    public const int ScInvalidField = 0x02;
    public const int ScInvalidOpcode = 0x01;
    public const int ScLbaOutOfRange = 0x80;
    public const int SctCommandSpecific = 1;
    public const int SctMediaError = 2;
    public const int SctPath = 3;

    // Identify controller fields (byte offsets)
    public const int IdCtrlSerial = 4;
    public const int IdCtrlModel = 24;
    public const int IdCtrlFirmware = 64;
    public const int IdCtrlMdts = 77;
    public const int IdCtrlVersion = 80;
    public const int IdCtrlOacs = 256;
    public const int IdCtrlAerl = 259;
    public const int IdCtrlSqes = 512;
    public const int IdCtrlCqes = 513;
    public const int IdCtrlNn = 516;
    public const int IdCtrlOncs = 520;
    public const int IdCtrlVwc = 525;
    public const ushort OncsCompare = 1 << 0;
    public const ushort OncsDatasetManagement = 1 << 2;
    public const ushort OncsWriteZeroes = 1 << 3;

    // Identify namespace fields
    public const int IdNsSize = 0;
    public const int IdNsFlbas = 26;
    public const int IdNsNguid = 104;
    public const int IdNsLbaf = 128;

    /// <summary>Data direction of a command from its opcode bits 1:0 (the NVMe convention
    /// all standard opcodes follow): 1 host to controller, 2 controller to host, 3 both.</summary>
    public static int DataDirection(byte opcode) => opcode & 3;

    public static string StatusName(int sct, int sc) => (sct, sc) switch
    {
        (0, 0) => "success",
        (0, ScInvalidOpcode) => "invalid opcode",
        (0, ScInvalidField) => "invalid field in command",
        (0, 0x04) => "data transfer error",
        (0, 0x06) => "internal error",
        (0, ScAbortedByRequest) => "aborted by request",
        (0, ScAbortedSqDeletion) => "aborted: SQ deletion",
        (0, 0x0B) => "invalid namespace",
        (0, ScLbaOutOfRange) => "LBA out of range",
        (0, 0x81) => "capacity exceeded",
        (0, 0x82) => "namespace not ready",
        (1, 0x01) => "invalid queue identifier",
        (1, 0x02) => "invalid queue size",
        (1, 0x05) => "asynchronous event request limit exceeded",
        (1, 0x80) => "conflicting attributes",
        (2, 0x80) => "write fault",
        (2, 0x81) => "unrecovered read error",
        _ => $"SCT {sct} SC 0x{sc:x2}",
    };
}
