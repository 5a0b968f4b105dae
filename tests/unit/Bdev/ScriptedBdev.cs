using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>A test backend whose I/Os complete when the test says so: while
/// <see cref="Hold"/> is set, every I/O except a reset stays with the backend; once cleared,
/// the next poll completes them in order. I/Os at <see cref="FailOffset"/> complete with
/// -EIO. A reset reaching the backend completes on the next poll, whatever
/// <see cref="Hold"/> says, so that any ordering between resets and I/Os comes from the bdev
/// layer and not from the backend.</summary>
internal sealed unsafe class ScriptedBdev : BlockDevice
{
    public bool Hold;
    public ulong FailOffset = ulong.MaxValue;
    public int ResetsSeen;
    public int Held => _channels.Sum(c => c.Queued.Count);
    public bool Destructed;
    private readonly List<Channel> _channels = new();

    private ScriptedBdev(string name, ulong blocks) : base(name, "scripted", 512, blocks)
    {
        ProductName = "Scripted disk";
    }

    /// <summary>Creates and registers one (with a unique name).</summary>
    public static ScriptedBdev Register(string prefix, ulong blocks = 1024)
    {
        TestEnv.Ensure();
        var b = new ScriptedBdev(Bdevs.Unique(prefix), blocks);
        int rc = BdevRegistry.Register(b);
        if (rc != 0)
        {
            throw new InvalidOperationException($"register: {rc} ({LastError.Message})");
        }
        return b;
    }

    public override bool IoTypeSupported(BdevIoType type) => type is BdevIoType.Read or BdevIoType.Write
        or BdevIoType.Unmap or BdevIoType.Flush or BdevIoType.Reset or BdevIoType.WriteZeroes;

    public override BdevModuleChannel? CreateChannel(BdevChannel channel)
    {
        var c = new Channel(this);
        _channels.Add(c);
        return c;
    }

    public override void Destruct() => Destructed = true;

    private sealed class Channel : BdevModuleChannel
    {
        private readonly ScriptedBdev _bdev;
        public readonly List<nint> Queued = new();

        public Channel(ScriptedBdev bdev) => _bdev = bdev;

        public override void Submit(BdevChannel channel, BdevIo* io)
        {
            if (io->Type == BdevIoType.Reset)
            {
                _bdev.ResetsSeen++;
                channel.Complete(io, 0);
            }
            else if (_bdev.Hold)
            {
                Queued.Add((nint)io);
            }
            else
            {
                channel.Complete(io, StatusOf(io));
            }
        }

        public override bool NeedsPoller => true;

        public override int Poll(BdevChannel channel)
        {
            if (_bdev.Hold || Queued.Count == 0)
            {
                return 0;
            }
            nint[] ios = Queued.ToArray();
            Queued.Clear();
            foreach (nint p in ios)
            {
                channel.Complete((BdevIo*)p, StatusOf((BdevIo*)p));
            }
            return ios.Length;
        }

        private int StatusOf(BdevIo* io) => io->OffsetBlocks == _bdev.FailOffset ? -Errno.EIO : 0;

        public override void Destroy() => _bdev._channels.Remove(this);
    }
}
