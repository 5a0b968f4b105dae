using System.Runtime.InteropServices;

namespace NativeBdev.Interop;

/// <summary>Linux native AIO (include/uapi/linux/aio_abi.h), by system call: no libaio.</summary>
internal static unsafe class AioAbi
{
    public const int SYS_io_setup = 206;
    public const int SYS_io_destroy = 207;
    public const int SYS_io_getevents = 208;
    public const int SYS_io_submit = 209;

    public const ushort IOCB_CMD_PREAD = 0;
    public const ushort IOCB_CMD_PWRITE = 1;
    public const ushort IOCB_CMD_FSYNC = 2;
    public const ushort IOCB_CMD_FDSYNC = 3;
    public const ushort IOCB_CMD_PREADV = 7;
    public const ushort IOCB_CMD_PWRITEV = 8;

    /// <summary>struct iocb (64 bytes, little-endian field order).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    public struct Iocb
    {
        [FieldOffset(0)] public ulong Data;
        [FieldOffset(8)] public uint Key;
        [FieldOffset(12)] public int RwFlags;
        [FieldOffset(16)] public ushort LioOpcode;
        [FieldOffset(18)] public short ReqPrio;
        [FieldOffset(20)] public uint Fildes;
        [FieldOffset(24)] public ulong Buf;
        [FieldOffset(32)] public ulong NBytes;
        [FieldOffset(40)] public long Offset;
        [FieldOffset(48)] public ulong Reserved2;
        [FieldOffset(56)] public uint Flags;
        [FieldOffset(60)] public uint ResFd;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoEvent
    {
        public ulong Data;
        public ulong Obj;
        public long Res;
        public long Res2;
    }

    /// <summary>The completion ring the kernel maps at the context's address (fs/aio.c):
    /// readable from user space without a system call when its magic is right.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct AioRing
    {
        public uint Id;
        public uint Nr;
        public uint Head;
        public uint Tail;
        public uint Magic;
        public uint CompatFeatures;
        public uint IncompatFeatures;
        public uint HeaderLength;
    }

    public const uint AioRingMagic = 0xa10a10a1;

    public static int Setup(uint nr, ulong* ctx) => (int)Libc.syscall(SYS_io_setup, (nint)nr, (nint)ctx, 0, 0, 0, 0);

    public static int Destroy(ulong ctx) => (int)Libc.syscall(SYS_io_destroy, (nint)ctx, 0, 0, 0, 0, 0);

    public static int Submit(ulong ctx, long n, Iocb** iocbs) =>
        (int)Libc.syscall(SYS_io_submit, (nint)ctx, (nint)n, (nint)iocbs, 0, 0, 0);

    public static int GetEvents(ulong ctx, long min, long max, IoEvent* events, void* timeout) =>
        (int)Libc.syscall(SYS_io_getevents, (nint)ctx, (nint)min, (nint)max, (nint)events, (nint)timeout, 0);
}
