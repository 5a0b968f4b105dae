using System;
using System.Text;

namespace NativeBdev.Nvme.Tcp;

/// <summary>NVMe over Fabrics commands (NVMe base specification 2.0, "Fabrics Command Set";
/// Linux include/linux/nvme.h nvmf_*_command): opcode 7Fh with the fabrics command type in
/// byte 4. Connect carries 1024 bytes of data (host identifier, controller id, NQNs);
/// Property Get/Set stand in for register reads and writes.</summary>
internal static unsafe class NvmeFabrics
{
    public const byte Opcode = 0x7F;
    public const byte TypePropertySet = 0x00;
    public const byte TypeConnect = 0x01;
    public const byte TypePropertyGet = 0x04;
    public const byte TypeDisconnect = 0x08;
    public const int ConnectDataBytes = 1024;
    public const int NqnMaxBytes = 223; // NQNs are at most 223 bytes (in a 256-byte field)
    public const ushort DynamicControllerId = 0xFFFF;

    // Connect status codes (SCT 1, command specific)
    public const int ScConnectIncompatibleFormat = 0x80;
    public const int ScConnectControllerBusy = 0x81;
    public const int ScConnectInvalidParameters = 0x82;
    public const int ScConnectRestartDiscovery = 0x83;
    public const int ScConnectInvalidHost = 0x84;

    /// <summary>Connect for queue <paramref name="qid"/> with SQSIZE
    /// <paramref name="entries"/> - 1 (0's based) and, on the admin queue, the keep-alive
    /// timeout in ms. The data (see <see cref="WriteConnectData"/>) goes in the capsule.</summary>
    public static NvmeCommand Connect(ushort qid, int entries, uint kato) => new()
    {
        Opcode = Opcode,
        Nsid = TypeConnect,          // byte 4: FCTYPE
        Cdw10 = (uint)qid << 16,     // RECFMT 0, QID
        Cdw11 = (uint)(entries - 1), // SQSIZE; CATTR 0
        Cdw12 = kato,
    };

    public static NvmeCommand PropertyGet(int offset, bool eightBytes) => new()
    {
        Opcode = Opcode, Nsid = TypePropertyGet, Cdw10 = eightBytes ? 1u : 0u, Cdw11 = (uint)offset,
    };

    public static NvmeCommand PropertySet(int offset, ulong value, bool eightBytes) => new()
    {
        Opcode = Opcode, Nsid = TypePropertySet, Cdw10 = eightBytes ? 1u : 0u, Cdw11 = (uint)offset,
        Cdw12 = (uint)value, Cdw13 = (uint)(value >> 32),
    };

    /// <summary>The 1024 bytes of Connect data: host identifier (16 bytes), controller id
    /// (0xFFFF on the admin queue: any; the one the admin Connect returned on an I/O queue),
    /// subsystem NQN at 256 and host NQN at 512, each zero-padded.</summary>
    public static void WriteConnectData(Span<byte> b, Guid hostId, ushort cntlid, string subnqn, string hostnqn)
    {
        b[..ConnectDataBytes].Clear();
        hostId.TryWriteBytes(b[..16], bigEndian: true, out _);
        b[16] = (byte)cntlid;
        b[17] = (byte)(cntlid >> 8);
        Encoding.ASCII.GetBytes(subnqn, b.Slice(256, 256));
        Encoding.ASCII.GetBytes(hostnqn, b.Slice(512, 256));
    }

    /// <summary>Why a Connect failed, for the message: the status and, for invalid
    /// parameters, which one (completion dword 0: IATTR bit 16 = in the data, IPO 15:0).</summary>
    public static string ConnectFailure(in NvmeCompletion cpl)
    {
        if (cpl.Sct == NvmeSpec.SctCommandSpecific)
        {
            switch (cpl.Sc)
            {
                case ScConnectInvalidHost:
                    return "the host NQN is not allowed to connect to this subsystem (connect invalid host)";
                case ScConnectInvalidParameters:
                    bool inData = (cpl.Dw0 & (1u << 16)) != 0;
                    int offset = (int)(cpl.Dw0 & 0xFFFF);
                    string field = !inData ? $"command byte {offset}" : offset switch
                    {
                        0 => "host identifier",
                        16 => "controller id",
                        256 => "subsystem NQN (no such subsystem here?)",
                        512 => "host NQN",
                        _ => $"data byte {offset}",
                    };
                    return $"invalid connect parameter: {field}";
                case ScConnectControllerBusy:
                    return "controller busy";
                case ScConnectIncompatibleFormat:
                    return "incompatible connect format";
            }
        }
        return NvmeSpec.StatusName(cpl.Sct, cpl.Sc);
    }

    /// <summary>A valid NQN (NVMe base specification, "NVMe Qualified Names"): at most 223
    /// bytes of UTF-8, "nqn.yyyy-mm.reverse-domain[:...]" or the UUID form.</summary>
    public static bool IsValidNqn(string nqn, out string why)
    {
        why = "";
        if (nqn.Length == 0 || Encoding.UTF8.GetByteCount(nqn) > NqnMaxBytes)
        {
            why = $"an NQN is 1 to {NqnMaxBytes} bytes";
            return false;
        }
        foreach (char c in nqn)
        {
            if (c < 0x21 || c > 0x7E)
            {
                why = "an NQN here is printable ASCII without spaces";
                return false;
            }
        }
        if (!nqn.StartsWith("nqn.", StringComparison.Ordinal) || nqn.Length < 12 || nqn[8] != '-' ||
            !char.IsAsciiDigit(nqn[4]) || !char.IsAsciiDigit(nqn[9]))
        {
            why = "an NQN starts with nqn.yyyy-mm. (e.g. nqn.2014-08.org.nvmexpress:uuid:...)";
            return false;
        }
        return true;
    }
}
