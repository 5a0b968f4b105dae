using System.Diagnostics;
using System.Text;
using CsCheck;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>Model-based property test of the bdev layer over malloc bdevs: random sequences of
/// create, open, read, write, unmap, write_zeroes, resize, fault rules (add, remove, clear),
/// close and destroy, run against the runtime and against an in-memory model of every bdev's
/// data, sizes, descriptors, events and fault-rule counters. Every step is compared; a
/// mismatch throws with the whole interpreted trace, and CsCheck shrinks the sequence.
/// Reproduce a failure with the seed it prints (CsCheck_Seed=... or the seed: argument).</summary>
[NotInParallel(Keys.Threads)]
public class BdevModelTests
{
    private const int Sequences = 200;
    private const int MaxOps = 60;
    private const int ExtraBatches = 4; // of 100 sequences, only while a case was never reached

    [Test]
    public async Task Random_operation_sequences_match_the_model()
    {
        TestEnv.Ensure();
        using var host = new ThreadHost();
        LightweightThread[] threads = [host.Create("model-0"), host.Create("model-1")];
        using var buffer = new DmaBuffer(ModelRun.MaxIoBlocks * 4096);
        var coverage = new ModelCoverage();
        var sw = Stopwatch.StartNew();
        int sequences = 0;
        LogLevel level = Log.Level;
        Log.Level = LogLevel.Warn; // not a NOTICE line for each of the hundreds of rules added
        try
        {
            // One sequence at a time (threads: 1): the runs share the two lightweight threads.
            // A failure throws here with the seed, the shrunk operations and the trace.
            void Batch(int n)
            {
                ModelOp.Gen.Array[1, MaxOps].Sample(
                    ops => new ModelRun(threads, buffer, coverage).Run(ops),
                    iter: n, threads: 1, print: ModelOp.Print);
                sequences += n;
            }
            Batch(Sequences);
            for (int i = 0; i < ExtraBatches && coverage.Unreached().Count > 0; i++)
            {
                Batch(100);
            }
        }
        finally
        {
            Log.Level = level;
        }
        sw.Stop();
        Console.WriteLine($"{sequences} sequences in {sw.Elapsed.TotalSeconds:F1} s; {coverage}");

        // The interesting cases were reached, not only the easy ones.
        await Assert.That(coverage.ReadsCompared).IsGreaterThan(1000);
        await Assert.That(string.Join(", ", coverage.Unreached())).IsEqualTo("");
    }
}

internal enum ModelOpKind
{
    Create,
    Open,
    Write,
    Read,
    Unmap,
    Zeroes,
    Resize,
    Inject,
    RemoveRule,
    ClearRules,
    Close,
    Destroy,
}

/// <summary>One generated operation. The fields are raw numbers that <see cref="ModelRun"/>
/// interprets against the state at that point (which bdev, which descriptor, where), so
/// every sequence is valid to run and CsCheck can shrink the numbers freely.</summary>
internal readonly record struct ModelOp(ModelOpKind Kind, int T, int A = 0, int B = 0, int C = 0, int D = 0,
    int E = 0, int F = 0, int G = 0, int H = 0)
{
    public const int Slots = 3;

    // Slot 0 most often, so that sequences put several operations on one bdev.
    private static readonly Gen<int> Slot = CsCheck.Gen.Frequency(
        (4, CsCheck.Gen.Const(0)), (2, CsCheck.Gen.Const(1)), (1, CsCheck.Gen.Const(2)));
    // Which descriptor or bdev an operation acts on: below 12, one of those still open or
    // live (see ModelRun.PickDesc/PickBdev), else any, closed or gone ones included.
    private static readonly Gen<int> DescSeed = CsCheck.Gen.Int[0, 15];
    private static readonly Gen<int> Target = CsCheck.Gen.Int[0, 15];
    // A rule's op: an index into read, write, rw, unmap, zeroes, all.
    private static readonly Gen<int> RuleOp = CsCheck.Gen.Frequency(
        (3, CsCheck.Gen.Const(0)), (3, CsCheck.Gen.Const(1)), (2, CsCheck.Gen.Const(2)), (1, CsCheck.Gen.Const(3)),
        (1, CsCheck.Gen.Const(4)), (1, CsCheck.Gen.Const(5)));
    // A rule's method: 0 status, 1 status with errno=, 2 status-nvme, 3 data (op=read,
    // stage=compl), 4 data with the generated op and stage (mostly refused with -EINVAL).
    private static readonly Gen<int> Method = CsCheck.Gen.Frequency(
        (5, CsCheck.Gen.Const(0)), (2, CsCheck.Gen.Const(1)), (1, CsCheck.Gen.Const(2)), (3, CsCheck.Gen.Const(3)),
        (1, CsCheck.Gen.Const(4)));
    private static readonly Gen<int> Length = CsCheck.Gen.Frequency(
        (12, CsCheck.Gen.Int[1, 8]), (6, CsCheck.Gen.Int[1, 64]), (2, CsCheck.Gen.Int[1, ModelRun.MaxIoBlocks]),
        (1, CsCheck.Gen.Const(0)));
    // 0 anywhere in the current size, 1 ending at the current end, 2 anywhere in the created
    // size (past the end after a shrink), 3 one block past the current end.
    private static readonly Gen<int> Place = CsCheck.Gen.Frequency(
        (8, CsCheck.Gen.Const(0)), (2, CsCheck.Gen.Const(1)), (2, CsCheck.Gen.Const(2)), (1, CsCheck.Gen.Const(3)));

    private static Gen<ModelOp> Io(ModelOpKind kind) =>
        CsCheck.Gen.Select(DescSeed, Place, CsCheck.Gen.Int[0, 1 << 20], Length, CsCheck.Gen.Int[0, 255],
            (d, place, x, len, seed) => new ModelOp(kind, d, place, x, len, seed));

    public static readonly Gen<ModelOp> Gen = CsCheck.Gen.Frequency(
        (6, CsCheck.Gen.Select(Slot, CsCheck.Gen.Int[64, 1024], CsCheck.Gen.Int[0, 1],
            (s, blocks, big) => new ModelOp(ModelOpKind.Create, s, blocks, big))),
        (7, CsCheck.Gen.Select(Target, CsCheck.Gen.Int[0, 3], CsCheck.Gen.Int[0, 1],
            (s, mode, t) => new ModelOp(ModelOpKind.Open, s, mode, t))),
        (12, Io(ModelOpKind.Write)),
        (12, Io(ModelOpKind.Read)),
        (3, Io(ModelOpKind.Unmap)),
        (3, Io(ModelOpKind.Zeroes)),
        (4, CsCheck.Gen.Select(Target, CsCheck.Gen.Int[0, 9], CsCheck.Gen.Int[0, 1 << 16],
            (s, mode, x) => new ModelOp(ModelOpKind.Resize, s, mode, x))),
        (6, CsCheck.Gen.Select(
            CsCheck.Gen.Select(Target, RuleOp, Method, CsCheck.Gen.Int[0, 1]),
            CsCheck.Gen.Select(CsCheck.Gen.Int[0, 3], CsCheck.Gen.Int[1, 2], CsCheck.Gen.Int[0, 2],
                CsCheck.Gen.Int[0, 1 << 16], CsCheck.Gen.Int[0, 63]),
            (a, b) => new ModelOp(ModelOpKind.Inject, a.Item1, a.Item2, a.Item3, a.Item4, b.Item1, b.Item2, b.Item3,
                b.Item4, b.Item5))),
        (1, CsCheck.Gen.Int[0, 31].Select(r => new ModelOp(ModelOpKind.RemoveRule, r))),
        (2, Target.Select(s => new ModelOp(ModelOpKind.ClearRules, s))),
        (2, DescSeed.Select(d => new ModelOp(ModelOpKind.Close, d))),
        (1, Slot.Select(s => new ModelOp(ModelOpKind.Destroy, s))));

    public override string ToString() => Kind switch
    {
        ModelOpKind.Create => $"Create(slot {T}, {A} blocks, {(B == 0 ? 512 : 4096)} B)",
        ModelOpKind.Open => $"Open(bdev#{T}, {(A == 0 ? "ro" : "rw")}, thread {B})",
        ModelOpKind.Write or ModelOpKind.Read or ModelOpKind.Unmap or ModelOpKind.Zeroes =>
            $"{Kind}(desc#{T}, place {A}, x {B}, len {C}, seed {D})",
        ModelOpKind.Resize => $"Resize(bdev#{T}, mode {A}, x {B})",
        ModelOpKind.Inject =>
            $"Inject(bdev#{T}, op {A}, method {B}, stage {C}, count {D}, every {E}, range {F}, off {G}, num {H})",
        ModelOpKind.RemoveRule => $"RemoveRule(rule#{T})",
        ModelOpKind.ClearRules => $"ClearRules(bdev#{T})",
        ModelOpKind.Close => $"Close(desc#{T})",
        ModelOpKind.Destroy => $"Destroy(slot {T})",
        _ => Kind.ToString(),
    };

    public static string Print(ModelOp[] ops) =>
        $"{ops.Length} operations:\n" + string.Join("\n", ops.Select((o, i) => $"  {i,2}: {o}"));
}

/// <summary>How often each interesting case ran, over all sequences.</summary>
internal sealed class ModelCoverage
{
    public long Ops, ReadsCompared, WriteSubmitFaults, WriteComplFaults, ReadSubmitFaults, ReadComplFaults,
        DataFaults, OtherFaults, BadfClosed, BadfReadOnly, NodevRemoved, InvalRange, Shrinks, Grows, NospcResizes,
        RegrownDataRead, DestroyedWhileOpen, RulesAdded, RulesRejected, RulesExhausted,
        Exists;

    /// <summary>The cases that must be reached at least once.</summary>
    public List<string> Unreached()
    {
        var missing = new List<string>();
        void Need(long n, string what)
        {
            if (n == 0)
            {
                missing.Add(what);
            }
        }
        Need(WriteSubmitFaults, "write failed at submit");
        Need(WriteComplFaults, "write failed at completion");
        Need(ReadSubmitFaults, "read failed at submit");
        Need(ReadComplFaults, "read failed at completion");
        Need(DataFaults, "read corrupted by a data rule");
        Need(BadfClosed, "I/O on a closed descriptor");
        Need(BadfReadOnly, "write on a read-only descriptor");
        Need(NodevRemoved, "I/O on a bdev being removed");
        Need(InvalRange, "I/O out of range");
        Need(Shrinks, "shrink");
        Need(Grows, "grow");
        Need(NospcResizes, "grow beyond the created size");
        Need(RegrownDataRead, "data read back after a shrink and a grow");
        Need(DestroyedWhileOpen, "destroy with descriptors open");
        Need(RulesExhausted, "a rule's count used up");
        Need(RulesRejected, "a rule refused");
        Need(Exists, "create over an existing name");
        return missing;
    }

    public override string ToString() =>
        $"ops {Ops}, reads compared {ReadsCompared}, " +
        $"write faults submit/compl {WriteSubmitFaults}/{WriteComplFaults}, " +
        $"read faults submit/compl {ReadSubmitFaults}/{ReadComplFaults}, " +
        $"data faults {DataFaults}, other faults {OtherFaults}, " +
        $"EBADF closed/read-only {BadfClosed}/{BadfReadOnly}, ENODEV removed {NodevRemoved}, " +
        $"EINVAL range {InvalRange}, " +
        $"shrinks {Shrinks}, grows {Grows}, ENOSPC resizes {NospcResizes}, data read back after a shrink and a " +
        $"grow {RegrownDataRead}, destroyed while open {DestroyedWhileOpen}, rules added/rejected/exhausted " +
        $"{RulesAdded}/{RulesRejected}/{RulesExhausted}, EEXIST {Exists}";
}

internal sealed class ModelViolation(string message) : Exception(message);

internal enum ModelBdevState
{
    Live,
    Removing,
    Gone,
}

/// <summary>One bdev incarnation (a slot's name can be created again once it is gone).</summary>
internal sealed class ModelBdev
{
    public required string Name;
    public required int Slot;
    public required uint BlockSize;
    public required ulong Capacity;
    public required BlockDevice Real;
    public ulong Size;
    public byte[] Data = [];
    /// <summary>Blocks that came back by growing after a shrink and were not written since
    /// (for the coverage count only: they hold what they held before the shrink).</summary>
    public bool[] Regrown = [];
    public ModelBdevState State;
    public readonly List<ModelRule> Rules = new();
    public int CallbacksExpected;
    public int CallbacksFired;
    public int CallbackBadStatus;

    public override string ToString() => $"{Name} ({State}, {Size}/{Capacity} x {BlockSize})";
}

internal sealed class ModelDesc
{
    public required int Index;
    public required ModelBdev Bdev;
    public required bool Writable;
    public required LightweightThread Thread;
    public BdevHandle Handle = null!;
    public bool Closed;
    public readonly List<BdevEventType> Events = new();
    public readonly List<BdevEventType> Expected = new();

    public override string ToString() =>
        $"desc#{Index}({Bdev.Name}, {(Writable ? "rw" : "ro")}, {Thread.Name}{(Closed ? ", closed" : "")})";
}

internal enum RuleMethod
{
    Status,
    Nvme,
    Data,
}

internal sealed class ModelRule
{
    public required int Id;
    public required ModelBdev Bdev;
    public required string Uri;
    public required uint OpMask;
    public required FaultStage Stage;
    public required RuleMethod Method;
    public required int Errno;
    public required ulong Offset;
    public required ulong NumBlocks; // 0: to the end
    public required long Count;      // 0: unlimited
    public required long Every;
    public long Matched;
    public long Fired;
    public bool Active = true;

    /// <summary>FaultRule.Fires, as documented: stage, op, range, then every N-th match, then
    /// at most Count firings.</summary>
    public bool Fires(BdevIoType type, FaultStage stage, ulong offset, ulong blocks)
    {
        if (stage != Stage || (OpMask & (1u << (int)type)) == 0)
        {
            return false;
        }
        bool outside = NumBlocks != 0
            ? offset + blocks <= Offset || offset >= Offset + NumBlocks
            : offset + blocks <= Offset;
        if (outside)
        {
            return false;
        }
        if (++Matched % Every != 0)
        {
            return false;
        }
        if (Count > 0 && Fired >= Count)
        {
            return false;
        }
        Fired++;
        return true;
    }

    public int FailStatus => Method == RuleMethod.Nvme ? -Interop.Errno.EIO : -Errno;

    public override string ToString() => $"rule {Id} [{Uri[(Uri.IndexOf('?') + 1)..]}] matched {Matched} fired {Fired}";
}

/// <summary>Runs one sequence against the runtime and the model.</summary>
internal sealed unsafe class ModelRun
{
    public const int MaxIoBlocks = 256;
    private static readonly string[] s_opNames = ["read", "write", "rw", "unmap", "zeroes", "all"];
    private static readonly int[] s_errnos = [Errno.EIO, Errno.ENOSPC, Errno.ENODATA, 110, 4095];

    private readonly LightweightThread[] _threads;
    private readonly DmaBuffer _buf;
    private readonly ModelCoverage _cov;
    private readonly string _prefix = Bdevs.Unique("model");
    private readonly ModelBdev?[] _slots = new ModelBdev?[ModelOp.Slots];
    private readonly List<ModelBdev> _bdevs = new();
    private readonly List<ModelDesc> _descs = new();
    private readonly List<ModelRule> _rules = new();
    private readonly StringBuilder _trace = new();
    private int _step;

    public ModelRun(LightweightThread[] threads, DmaBuffer buf, ModelCoverage coverage)
    {
        _threads = threads;
        _buf = buf;
        _cov = coverage;
    }

    public void Run(ModelOp[] ops)
    {
        Exception? failure = null;
        try
        {
            for (_step = 0; _step < ops.Length; _step++)
            {
                _trace.Append($"{_step,2}: {ops[_step]}");
                Apply(ops[_step]);
                _trace.AppendLine();
                Settle();
                CheckState();
                _cov.Ops++;
            }
            _step = -1;
            _trace.AppendLine("end: every rule cleared, every live bdev read whole through a new descriptor");
            VerifyWholeDevices();
        }
        catch (Exception e)
        {
            failure = e;
        }
        try
        {
            Cleanup();
        }
        catch (Exception e) when (failure != null)
        {
            _trace.AppendLine($"(cleanup after the failure failed too: {e.Message})");
        }
        catch (Exception e)
        {
            failure = e;
        }
        if (failure != null)
        {
            string what = failure is ModelViolation ? failure.Message : failure.ToString();
            throw new ModelViolation($"{what}\n--- trace (step: operation -> what the runtime did) ---\n{_trace}");
        }
    }

    // ------------------------------------------------------------------ operations

    private void Apply(ModelOp op)
    {
        switch (op.Kind)
        {
            case ModelOpKind.Create:
                Create(op);
                break;
            case ModelOpKind.Open:
                Open(op);
                break;
            case ModelOpKind.Write:
            case ModelOpKind.Read:
            case ModelOpKind.Unmap:
            case ModelOpKind.Zeroes:
                Io(op);
                break;
            case ModelOpKind.Resize:
                Resize(op);
                break;
            case ModelOpKind.Inject:
                Inject(op);
                break;
            case ModelOpKind.RemoveRule:
                RemoveRule(op);
                break;
            case ModelOpKind.ClearRules:
                ClearRules(op);
                break;
            case ModelOpKind.Close:
                Close(op);
                break;
            case ModelOpKind.Destroy:
                Destroy(op);
                break;
        }
    }

    private string SlotName(int slot) => $"{_prefix}-s{slot}";

    /// <summary>Below 12: a live bdev, if there is one; else slot <c>target % Slots</c>,
    /// whatever it holds (nothing, a bdev being removed or one gone).</summary>
    private (string Name, ModelBdev? Bdev) PickBdev(int target)
    {
        var live = _slots.Where(b => b != null && b.State == ModelBdevState.Live).ToList();
        if (target < 12 && live.Count > 0)
        {
            ModelBdev b = live[target % live.Count]!;
            return (b.Name, b);
        }
        int slot = target % ModelOp.Slots;
        return (SlotName(slot), _slots[slot]);
    }

    /// <summary>Below 12: an open descriptor, if there is one; else any, closed ones included.</summary>
    private ModelDesc PickDesc(int target)
    {
        var open = _descs.Where(d => !d.Closed).ToList();
        return target < 12 && open.Count > 0 ? open[target % open.Count] : _descs[target % _descs.Count];
    }

    private void Create(ModelOp op)
    {
        string name = SlotName(op.T);
        ulong blocks = (ulong)op.A;
        uint bs = op.B == 0 ? 512u : 4096u;
        ModelBdev? existing = _slots[op.T];
        var (rc, created, message) = Bdevs.TryCreate($"malloc:///{name}?num_blocks={blocks}&blk_size={bs}");
        _trace.Append($" -> {rc}");
        if (existing != null && existing.State != ModelBdevState.Gone)
        {
            Expect(rc == -Errno.EEXIST,
                $"creating '{name}' while {existing} exists: rc {rc}, expected -EEXIST ({message})");
            _cov.Exists++;
            return;
        }
        Expect(rc == 0 && created == name, $"creating '{name}': rc {rc} name '{created}' ({message})");
        BlockDevice real = Bdevs.Find(name);
        var b = new ModelBdev
        {
            Name = name, Slot = op.T, BlockSize = bs, Capacity = blocks, Real = real, Size = blocks,
            Data = new byte[blocks * bs], Regrown = new bool[blocks],
        };
        Expect(real.BlockSize == bs && real.BlockCount == blocks, $"'{name}' is {real.BlockCount} x {real.BlockSize}");
        _slots[op.T] = b;
        _bdevs.Add(b);
    }

    private void Open(ModelOp op)
    {
        var (name, b) = PickBdev(op.T);
        bool writable = op.A != 0;
        LightweightThread t = _threads[op.B % _threads.Length];
        ModelDesc? d = b == null
            ? null
            : new ModelDesc { Index = _descs.Count, Bdev = b, Writable = writable, Thread = t };
        var (rc, h, message) = HandleIo.TryOpen(t, name, writable, (type, _) => d?.Events.Add(type));
        _trace.Append($" -> {rc}");
        if (b == null || b.State != ModelBdevState.Live)
        {
            Expect(rc == -Errno.ENODEV,
                $"opening '{name}' ({b?.ToString() ?? "never created"}): rc {rc}, expected -ENODEV ({message})");
            return;
        }
        Expect(rc == 0, $"opening {b}: rc {rc} ({message})");
        d!.Handle = h!;
        _descs.Add(d);
        _trace.Append($" {d}");
    }

    private (ulong Offset, ulong Blocks) Place(ModelBdev b, int place, int x, int len)
    {
        ulong n = b.Size, c = b.Capacity, l = (ulong)len;
        if (l == 0)
        {
            return ((ulong)x % n, 0);
        }
        switch (place)
        {
            case 1:
                l = Math.Min(l, n);
                return (n - l, l);
            case 2:
                l = Math.Min(l, c);
                return ((ulong)x % (c - l + 1), l);
            case 3:
                l = Math.Min(l, n);
                return (n - l + 1, l);
            default:
                l = Math.Min(l, n);
                return ((ulong)x % (n - l + 1), l);
        }
    }

    private static BdevIoType TypeOf(ModelOpKind k) => k switch
    {
        ModelOpKind.Write => BdevIoType.Write,
        ModelOpKind.Read => BdevIoType.Read,
        ModelOpKind.Unmap => BdevIoType.Unmap,
        _ => BdevIoType.WriteZeroes,
    };

    private void Io(ModelOp op)
    {
        if (_descs.Count == 0)
        {
            _trace.Append(" -> skipped (no descriptor yet)");
            return;
        }
        ModelDesc d = PickDesc(op.T);
        var (offset, blocks) = Place(d.Bdev, op.A, op.B, op.C);
        BdevIoType type = TypeOf(op.Kind);
        _trace.Append($" = {type} {d} blocks {offset}+{blocks}");
        bool accepted = DoIo(d, type, offset, blocks, op.D);
        if (accepted && type != BdevIoType.Read)
        {
            // Read the range back at once, through the same descriptor (a read like any
            // other: rules apply to it and the model counts them).
            _trace.Append("; read back");
            DoIo(d, BdevIoType.Read, offset, blocks, 0);
        }
    }

    /// <summary>One I/O through the handle; checks its status, its data and that it did not
    /// complete inline. True if the runtime accepted it (the backend or a rule saw it).</summary>
    private bool DoIo(ModelDesc d, BdevIoType type, ulong offset, ulong blocks, int seed)
    {
        ModelBdev b = d.Bdev;
        uint bs = b.BlockSize;
        int bytes = (int)(blocks * bs);
        Span<byte> buf = _buf.Span;
        byte marker = (byte)(0x5A ^ _step);
        if (type == BdevIoType.Write)
        {
            for (int i = 0; i < bytes; i++)
            {
                buf[i] = DmaBuffer.PatternByte((int)(offset * bs) + i, seed + 1);
            }
        }
        else if (type == BdevIoType.Read)
        {
            buf[..Math.Max(bytes, 64)].Fill(marker);
        }

        // What the runtime must answer before the I/O starts, in BdevHandle/BdevChannel order.
        int reject = 0;
        if (d.Closed)
        {
            reject = -Errno.EBADF;
            _cov.BadfClosed++;
        }
        else if (b.State != ModelBdevState.Live)
        {
            reject = -Errno.ENODEV;
            _cov.NodevRemoved++;
        }
        else if (type != BdevIoType.Read && !d.Writable)
        {
            reject = -Errno.EBADF;
            _cov.BadfReadOnly++;
        }
        else if (blocks == 0 || offset + blocks > b.Size)
        {
            reject = -Errno.EINVAL;
            _cov.InvalRange++;
        }

        LightweightThread? previous = LightweightThread.Current;
        LightweightThread.Bind(d.Thread);
        ValueTask<int> vt;
        try
        {
            void* p = (void*)_buf.Pointer;
            vt = type switch
            {
                BdevIoType.Read => d.Handle.ReadAsync(p, offset, blocks),
                BdevIoType.Write => d.Handle.WriteAsync(p, offset, blocks),
                BdevIoType.Unmap => d.Handle.UnmapAsync(offset, blocks),
                _ => d.Handle.WriteZeroesAsync(offset, blocks),
            };
        }
        finally
        {
            LightweightThread.Bind(previous);
        }
        bool inline = vt.IsCompleted;
        if (!inline && !ThreadHost.PollUntil(() => vt.IsCompleted, _threads))
        {
            throw new ModelViolation($"step {_step}: {type} {offset}+{blocks} never completed");
        }
        int status = vt.Result;
        _trace.Append($" -> {status}");

        if (reject != 0)
        {
            Expect(inline && status == reject,
                $"{type} {offset}+{blocks} on {d}: status {status} (inline {inline}), expected {reject}");
            if (type == BdevIoType.Read)
            {
                Expect(buf[..Math.Max(bytes, 64)].IndexOfAnyExcept(marker) < 0,
                    $"a rejected read wrote into the buffer");
            }
            return false;
        }
        Expect(!inline,
            $"{type} {offset}+{blocks} completed inline (status {status}): callbacks must come from a later poll");

        // Submit stage: the first rule that fires decides, and the backend never sees the I/O.
        ModelRule? rule = b.Rules.FirstOrDefault(r => r.Fires(type, FaultStage.Submit, offset, blocks));
        if (rule != null)
        {
            _trace.Append($" [submit fault: {rule}]");
            Count(type, submit: true);
            Expect(status == rule.FailStatus,
                $"{type} {offset}+{blocks} hit {rule} at submit: status {status}, expected {rule.FailStatus}");
            if (type == BdevIoType.Read)
            {
                Expect(buf[..bytes].IndexOfAnyExcept(marker) < 0,
                    $"a read failed at submit by {rule} wrote into the buffer: the backend saw it");
            }
            NoteExhausted(rule);
            return true;
        }

        // The backend ran: writes reached the device whatever the completion stage says.
        ulong start = offset * bs;
        switch (type)
        {
            case BdevIoType.Write:
                buf[..bytes].CopyTo(b.Data.AsSpan((int)start, bytes));
                Array.Fill(b.Regrown, false, (int)offset, (int)blocks);
                break;
            case BdevIoType.Unmap:
            case BdevIoType.WriteZeroes:
                Array.Clear(b.Data, (int)start, bytes);
                Array.Fill(b.Regrown, false, (int)offset, (int)blocks);
                break;
        }

        rule = b.Rules.FirstOrDefault(r => r.Fires(type, FaultStage.Completion, offset, blocks));
        if (rule != null)
        {
            _trace.Append($" [completion fault: {rule}]");
            NoteExhausted(rule);
        }
        if (rule != null && rule.Method != RuleMethod.Data)
        {
            Count(type, submit: false);
            Expect(status == rule.FailStatus,
                $"{type} {offset}+{blocks} hit {rule} at completion: status {status}, expected {rule.FailStatus}");
            if (type == BdevIoType.Read)
            {
                // The backend read before the status was overridden.
                CompareRead(b, offset, blocks, corrupt: false, "a read failed at completion");
            }
            return true;
        }
        Expect(status == 0, $"{type} {offset}+{blocks} on {d}: status {status}, expected 0");
        if (type == BdevIoType.Read)
        {
            bool corrupt = rule != null;
            if (corrupt)
            {
                _cov.DataFaults++;
            }
            CompareRead(b, offset, blocks, corrupt, corrupt ? $"a read corrupted by {rule}" : "a read");
        }
        return true;
    }

    private void Count(BdevIoType type, bool submit)
    {
        switch (type, submit)
        {
            case (BdevIoType.Write, true):
                _cov.WriteSubmitFaults++;
                break;
            case (BdevIoType.Write, false):
                _cov.WriteComplFaults++;
                break;
            case (BdevIoType.Read, true):
                _cov.ReadSubmitFaults++;
                break;
            case (BdevIoType.Read, false):
                _cov.ReadComplFaults++;
                break;
            default:
                _cov.OtherFaults++;
                break;
        }
    }

    private void NoteExhausted(ModelRule rule)
    {
        if (rule.Count > 0 && rule.Fired == rule.Count)
        {
            _cov.RulesExhausted++;
        }
    }

    /// <summary>The buffer holds blocks [offset, offset+blocks) of the model; with
    /// <paramref name="corrupt"/>, as a data rule returns them: the first 8 bytes of every
    /// block inverted.</summary>
    private void CompareRead(ModelBdev b, ulong offset, ulong blocks, bool corrupt, string what)
    {
        int bs = (int)b.BlockSize;
        Span<byte> buf = _buf.Span;
        for (ulong i = 0; i < blocks; i++)
        {
            ReadOnlySpan<byte> got = buf.Slice((int)i * bs, bs);
            ulong block = offset + i;
            ReadOnlySpan<byte> want = b.Data.AsSpan((int)block * bs, bs);
            bool ok = BlockMatches(got, want, corrupt);
            if (ok && b.Regrown[block] && want.IndexOfAnyExcept((byte)0) >= 0)
            {
                _cov.RegrownDataRead++;
            }
            if (!ok)
            {
                int at = FirstDifference(got, want, corrupt);
                byte expected = corrupt && at < 8 ? (byte)~want[at] : want[at];
                throw new ModelViolation(
                    $"step {_step}: {what} of {b} at {offset}+{blocks} differs from the model in block {block}" +
                    $" at byte {at}: got 0x{got[at]:x2}, expected 0x{expected:x2}" +
                    $"{(corrupt && at < 8 ? $" (the model's 0x{want[at]:x2} inverted by the data rule)" : "")}" +
                    $"{(b.Regrown[block] ? " (a block hidden by a shrink and back by a grow)" : "")}");
            }
        }
        _cov.ReadsCompared++;
    }

    private static bool BlockMatches(ReadOnlySpan<byte> got, ReadOnlySpan<byte> want, bool corrupt)
    {
        if (!corrupt)
        {
            return got.SequenceEqual(want);
        }
        for (int i = 0; i < 8; i++)
        {
            if (got[i] != (byte)~want[i])
            {
                return false;
            }
        }
        return got[8..].SequenceEqual(want[8..]);
    }

    private static int FirstDifference(ReadOnlySpan<byte> got, ReadOnlySpan<byte> want, bool corrupt)
    {
        for (int i = 0; i < got.Length; i++)
        {
            byte w = corrupt && i < 8 ? (byte)~want[i] : want[i];
            if (got[i] != w)
            {
                return i;
            }
        }
        return 0;
    }

    private void Resize(ModelOp op)
    {
        ModelBdev? b = PickBdev(op.T).Bdev;
        if (b == null)
        {
            _trace.Append(" -> skipped (slot never created)");
            return;
        }
        ulong c = b.Capacity;
        ulong n = op.A switch
        {
            0 => 0,
            1 => c + 1 + (ulong)op.B % c,
            2 or 3 => c,
            4 => b.Size,
            _ => 1 + (ulong)op.B % c,
        };
        LastError.Clear();
        int rc = b.Real.Resize(n);
        string message = LastError.Message;
        _trace.Append($" = {b} to {n} blocks -> {rc}");
        int expected = n == 0 ? -Errno.EINVAL
            : b.State != ModelBdevState.Live ? -Errno.ENODEV
            : n == b.Size ? 0
            : n > c ? -Errno.ENOSPC
            : 0;
        Expect(rc == expected, $"resizing {b} to {n}: rc {rc}, expected {expected} ({message})");
        if (rc == -Errno.ENOSPC)
        {
            _cov.NospcResizes++;
        }
        if (rc != 0 || n == b.Size)
        {
            return;
        }
        if (n < b.Size)
        {
            _cov.Shrinks++;
        }
        else
        {
            // The model keeps the data past the end: malloc memory is never moved or
            // cleared, so growing back shows again what a shrink hid (as
            // BdevEventTests.Malloc_shrinks_and_grows_back_but_never_beyond_its_created_size
            // specifies).
            _cov.Grows++;
            Array.Fill(b.Regrown, true, (int)b.Size, (int)(n - b.Size));
        }
        b.Size = n;
        foreach (ModelDesc d in _descs.Where(d => d.Bdev == b && !d.Closed))
        {
            d.Expected.Add(BdevEventType.Resize);
        }
    }

    private void Inject(ModelOp op)
    {
        var (name, b) = PickBdev(op.T);
        ulong cap = b?.Capacity ?? 1024;
        int opIndex = op.A;
        int stage = op.C;
        if (op.B == 3)
        {
            opIndex = 0; // a valid data rule
            stage = 1;
        }
        string opName = s_opNames[opIndex];
        RuleMethod method = op.B switch { 2 => RuleMethod.Nvme, 3 or 4 => RuleMethod.Data, _ => RuleMethod.Status };
        int errno = op.B == 1 ? s_errnos[op.G % s_errnos.Length] : Errno.EIO;
        ulong offset = op.F == 0 ? 0 : (ulong)op.G % cap;
        ulong num = op.F == 2 ? 1 + (ulong)op.H % 32 : 0;
        var uri = new StringBuilder($"inject://{name}?op={opName}&stage={(stage == 0 ? "submit" : "compl")}&method=");
        uri.Append(method switch { RuleMethod.Nvme => "status-nvme-2-0x81", RuleMethod.Data => "data", _ => "status" });
        if (op.B == 1)
        {
            uri.Append($"&errno={errno}");
        }
        if (op.D > 0)
        {
            uri.Append($"&count={op.D}");
        }
        if (op.E > 1)
        {
            uri.Append($"&every={op.E}");
        }
        if (op.F > 0)
        {
            uri.Append($"&offset={offset}");
        }
        if (op.F == 2)
        {
            uri.Append($"&num_blk={num}");
        }
        string text = uri.ToString();
        LastError.Clear();
        int rc = FaultRegistry.Add(text);
        string message = LastError.Message;
        _trace.Append($" = {text} -> {rc}");

        bool valid = method != RuleMethod.Data || (opName == "read" && stage == 1);
        if (!valid)
        {
            Expect(rc == -Errno.EINVAL, $"'{text}' must be refused with -EINVAL: rc {rc} ({message})");
            _cov.RulesRejected++;
            return;
        }
        if (b == null || b.State != ModelBdevState.Live)
        {
            Expect(rc == -Errno.ENODEV,
                $"'{text}' on {b?.ToString() ?? "a bdev never created"}: rc {rc}, expected -ENODEV ({message})");
            _cov.RulesRejected++;
            return;
        }
        Expect(rc > 0, $"'{text}': rc {rc} ({message})");
        uint read = 1u << (int)BdevIoType.Read, write = 1u << (int)BdevIoType.Write;
        uint unmap = 1u << (int)BdevIoType.Unmap, zeroes = 1u << (int)BdevIoType.WriteZeroes;
        var rule = new ModelRule
        {
            Id = rc, Bdev = b, Uri = text,
            OpMask = opName switch
            {
                "read" => read,
                "write" => write,
                "rw" => read | write,
                "unmap" => unmap,
                "zeroes" => zeroes,
                _ => read | write | unmap | zeroes | 1u << (int)BdevIoType.Flush,
            },
            Stage = stage == 0 ? FaultStage.Submit : FaultStage.Completion,
            Method = method, Errno = errno, Offset = offset, NumBlocks = num, Count = op.D, Every = Math.Max(1, op.E),
        };
        b.Rules.Add(rule);
        _rules.Add(rule);
        _cov.RulesAdded++;
    }

    private void RemoveRule(ModelOp op)
    {
        if (_rules.Count == 0)
        {
            _trace.Append(" -> skipped (no rule yet)");
            return;
        }
        ModelRule r = _rules[op.T % _rules.Count];
        int rc = FaultRegistry.Remove(r.Id);
        _trace.Append($" = {r} of {r.Bdev} -> {rc}");
        Expect(rc == (r.Active ? 0 : -Errno.ENOENT), $"removing {r} (active {r.Active}): rc {rc}");
        if (r.Active)
        {
            r.Active = false;
            r.Bdev.Rules.Remove(r);
        }
    }

    private void ClearRules(ModelOp op)
    {
        var (name, b) = PickBdev(op.T);
        int rc = FaultRegistry.Clear(name);
        _trace.Append($" -> {rc}");
        int expected = b == null ? 0 : b.Rules.Count; // a gone bdev's rules went with it
        Expect(rc == expected, $"clearing the rules of '{name}': {rc}, expected {expected}");
        if (b != null)
        {
            ForgetRules(b);
        }
    }

    private void ForgetRules(ModelBdev b)
    {
        foreach (ModelRule r in b.Rules)
        {
            r.Active = false;
        }
        b.Rules.Clear();
    }

    private void Close(ModelOp op)
    {
        if (_descs.Count == 0)
        {
            _trace.Append(" -> skipped (no descriptor yet)");
            return;
        }
        ModelDesc d = PickDesc(op.T);
        _trace.Append($" = {d}");
        if (d.Closed)
        {
            int rc = Bdevs.Bound(d.Thread, () => BdevRegistry.Close(d.Handle.Descriptor));
            _trace.Append($" -> {rc}");
            Expect(rc == -Errno.EBADF, $"closing {d} again: rc {rc}, expected -EBADF");
            _cov.BadfClosed++;
            return;
        }
        CloseDesc(d);
    }

    private void CloseDesc(ModelDesc d)
    {
        Settle();
        Expect(d.Events.SequenceEqual(d.Expected),
            $"{d} received events [{string.Join(",", d.Events)}], expected [{string.Join(",", d.Expected)}]");
        Bdevs.Bound(d.Thread, () =>
        {
            d.Handle.Dispose();
            return 0;
        });
        d.Closed = true;
        ModelBdev b = d.Bdev;
        if (b.State == ModelBdevState.Removing && !_descs.Any(x => x.Bdev == b && !x.Closed))
        {
            Gone(b); // the last descriptor finishes the removal
        }
    }

    private void Gone(ModelBdev b)
    {
        b.State = ModelBdevState.Gone;
        ForgetRules(b);
    }

    private void Destroy(ModelOp op)
    {
        string name = SlotName(op.T);
        ModelBdev? b = _slots[op.T];
        int rc = BdevRegistry.Destroy(name, status =>
        {
            if (b != null)
            {
                b.CallbacksFired++;
                b.CallbackBadStatus |= status;
            }
        });
        _trace.Append($" -> {rc}");
        if (b == null || b.State == ModelBdevState.Gone)
        {
            Expect(rc == -Errno.ENODEV,
                $"destroying '{name}' ({b?.ToString() ?? "never created"}): rc {rc}, expected -ENODEV");
            return;
        }
        Expect(rc == 0, $"destroying {b}: rc {rc}");
        b.CallbacksExpected++;
        if (b.State == ModelBdevState.Removing)
        {
            return;
        }
        var open = _descs.Where(d => d.Bdev == b && !d.Closed).ToList();
        if (open.Count == 0)
        {
            Gone(b);
            return;
        }
        b.State = ModelBdevState.Removing;
        _cov.DestroyedWhileOpen++;
        foreach (ModelDesc d in open)
        {
            d.Expected.Add(BdevEventType.Remove);
        }
    }

    // ------------------------------------------------------------------ checks

    /// <summary>Polls both threads until neither has work: events, channel releases and
    /// removal callbacks are delivered.</summary>
    private void Settle()
    {
        for (int i = 0; i < 100; i++)
        {
            int work = 0;
            foreach (LightweightThread t in _threads)
            {
                work += ThreadHost.Poll(t);
            }
            if (work == 0)
            {
                return;
            }
        }
    }

    private void CheckState()
    {
        foreach (ModelBdev b in _bdevs)
        {
            BdevState want = b.State switch
            {
                ModelBdevState.Live => BdevState.Registered,
                ModelBdevState.Removing => BdevState.Removing,
                _ => BdevState.Removed,
            };
            Expect(b.Real.State == want, $"{b}: the runtime says {b.Real.State}");
            Expect(b.CallbacksFired == (b.State == ModelBdevState.Gone ? b.CallbacksExpected : 0) &&
                b.CallbackBadStatus == 0,
                $"{b}: {b.CallbacksFired} destroy callbacks ran (status bits {b.CallbackBadStatus}), expected " +
                $"{(b.State == ModelBdevState.Gone ? b.CallbacksExpected : 0)}");
            if (b.State != ModelBdevState.Gone)
            {
                Expect(b.Real.BlockCount == b.Size, $"{b}: the runtime says {b.Real.BlockCount} blocks");
            }
            BlockDevice? found = BdevRegistry.Find(b.Name);
            if (b.State == ModelBdevState.Live)
            {
                Expect(found == b.Real, $"{b}: BdevRegistry.Find returns {found?.ToString() ?? "null"}");
            }
            else if (_slots[b.Slot] == b)
            {
                Expect(found == null, $"{b}: BdevRegistry.Find still finds it");
            }
        }
        foreach (ModelDesc d in _descs.Where(d => !d.Closed))
        {
            Expect(d.Events.SequenceEqual(d.Expected),
                $"{d} received events [{string.Join(",", d.Events)}], expected [{string.Join(",", d.Expected)}]");
        }
        var real = FaultRegistry.Snapshot().ToDictionary(r => r.Rule.Id, r => r);
        foreach (ModelRule r in _rules)
        {
            bool listed = real.TryGetValue(r.Id, out var entry);
            Expect(listed == r.Active, $"{r} of {r.Bdev}: listed {listed}, active in the model {r.Active}");
            if (listed)
            {
                Expect(entry.Bdev == r.Bdev.Name && entry.Rule.Fired == r.Fired && entry.Rule.Matched == r.Matched,
                    $"{r}: the runtime's rule on '{entry.Bdev}' matched {entry.Rule.Matched} fired {entry.Rule.Fired}");
            }
        }
    }

    private void Expect(bool condition, string message)
    {
        if (!condition)
        {
            throw new ModelViolation($"step {(_step < 0 ? "end" : _step.ToString())}: {message}");
        }
    }

    /// <summary>At the end: no rule left, then every live bdev read whole through a fresh
    /// read-only descriptor and compared with the model.</summary>
    private void VerifyWholeDevices()
    {
        foreach (ModelBdev b in _bdevs.Where(b => b.State == ModelBdevState.Live))
        {
            int cleared = FaultRegistry.Clear(b.Name);
            Expect(cleared == b.Rules.Count, $"clearing the rules of {b}: {cleared}, expected {b.Rules.Count}");
            ForgetRules(b);
            var d = new ModelDesc { Index = _descs.Count, Bdev = b, Writable = false, Thread = _threads[0] };
            var (rc, h, message) = HandleIo.TryOpen(d.Thread, b.Name, false, (type, _) => d.Events.Add(type));
            Expect(rc == 0, $"opening {b} to verify it: rc {rc} ({message})");
            d.Handle = h!;
            _descs.Add(d);
            for (ulong off = 0; off < b.Size; off += MaxIoBlocks)
            {
                ulong n = Math.Min(MaxIoBlocks, b.Size - off);
                _trace.Append($"  verify {b.Name} {off}+{n}");
                DoIo(d, BdevIoType.Read, off, n, 0);
                _trace.AppendLine();
            }
            CloseDesc(d);
        }
    }

    /// <summary>Closes every descriptor and destroys every bdev of the run, and checks they
    /// are all gone, rules included.</summary>
    private void Cleanup()
    {
        foreach (ModelDesc d in _descs.Where(d => !d.Closed))
        {
            Bdevs.Bound(d.Thread, () =>
            {
                d.Handle.Dispose();
                return 0;
            });
            d.Closed = true;
        }
        Settle();
        var pending = new List<ModelBdev>();
        foreach (ModelBdev b in _bdevs.Where(b => b.Real.State != BdevState.Removed))
        {
            FaultRegistry.Clear(b.Name);
            pending.Add(b);
            if (BdevRegistry.Destroy(b.Name, null) != 0)
            {
                throw new InvalidOperationException($"cleanup: destroying {b}: {LastError.Message}");
            }
        }
        if (!ThreadHost.PollUntil(() => pending.All(b => b.Real.State == BdevState.Removed), _threads))
        {
            throw new InvalidOperationException("cleanup: not every bdev of the run was removed");
        }
        var ids = _rules.Select(r => r.Id).ToHashSet();
        if (FaultRegistry.Snapshot().Any(r => ids.Contains(r.Rule.Id)))
        {
            throw new InvalidOperationException("cleanup: a fault rule of the run outlived its bdev");
        }
    }
}
