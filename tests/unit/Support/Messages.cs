using NativeBdev.Reactor;

namespace NativeBdev.Tests.Support;

/// <summary>Records the arguments of the messages it receives, and the thread that was
/// current when each ran.</summary>
internal sealed class Recorder
{
    public readonly List<nint> Args = new();
    public readonly List<LightweightThread?> Currents = new();
}

/// <summary>Checks per-producer order of messages whose argument is
/// (producer &lt;&lt; 24) | sequence, counting each delivery.</summary>
internal sealed class OrderChecker
{
    public readonly int[] Next;
    public int Errors;
    public int Delivered;

    public OrderChecker(int producers) => Next = new int[producers];

    public static nint Encode(int producer, int seq) => ((nint)producer << 24) | (nint)seq;

    public void Check(nint arg)
    {
        int producer = (int)(arg >> 24);
        int seq = (int)(arg & 0xFFFFFF);
        if (producer >= Next.Length || seq != Next[producer])
        {
            Errors++;
        }
        else
        {
            Next[producer]++;
        }
        Volatile.Write(ref Delivered, Delivered + 1);
    }
}

/// <summary>Sends the test messages: managed function pointers, which need unsafe code and
/// so stay out of the async test methods.</summary>
internal static unsafe class Messages
{
    public static int Record(LightweightThread t, Recorder r, nint arg) => t.Send(&OnRecord, r, arg);

    public static int Check(LightweightThread t, OrderChecker c, nint arg) => t.Send(&OnCheck, c, arg);

    public static int Noop(LightweightThread t, nint arg) => t.Send(&OnNoop, null, arg);

    /// <summary>Runs <paramref name="action"/> on <paramref name="t"/>, during its poll.</summary>
    public static int Run(LightweightThread t, Action action) => t.Send(&OnRun, action, 0);

    /// <summary>As <see cref="Record"/>, on the thread's control queue.</summary>
    public static int RecordControl(LightweightThread t, Recorder r, nint arg) => t.SendControl(&OnRecord, r, arg);

    private static void OnRecord(object? ctx, nint arg)
    {
        var r = (Recorder)ctx!;
        r.Args.Add(arg);
        r.Currents.Add(LightweightThread.Current);
    }

    private static void OnCheck(object? ctx, nint arg) => ((OrderChecker)ctx!).Check(arg);

    private static void OnNoop(object? ctx, nint arg)
    {
    }

    private static void OnRun(object? ctx, nint arg) => ((Action)ctx!)();
}
