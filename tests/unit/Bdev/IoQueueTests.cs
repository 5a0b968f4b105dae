using System.Runtime.InteropServices;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Bdev;

/// <summary>The named intrusive queue: FIFO order, membership recorded on the I/O, and
/// misuse (an I/O on two queues, a pop from a queue the head is not recorded on) caught
/// by the invariants the test build enables.</summary>
public class IoQueueTests
{
    private sealed unsafe class Ios : IDisposable
    {
        public readonly BdevIo* P;
        public Ios(int n) => P = (BdevIo*)NativeMemory.AllocZeroed((nuint)(n * sizeof(BdevIo)));
        public BdevIo* this[int i] => &P[i];
        public void Dispose() => NativeMemory.Free(P);
    }

    private static unsafe string Drain(ref IoQueue q, Ios ios)
    {
        var order = new List<int>();
        BdevIo* io;
        while ((io = q.Pop()) != null)
        {
            order.Add((int)(io - ios.P));
            if (io->Queue != IoQueueName.None)
            {
                return "a popped I/O still recorded on the queue";
            }
        }
        return string.Join(",", order);
    }

    [Test]
    public async Task Fifo_order_counts_and_membership()
    {
        using var ios = new Ios(4);
        var q = new IoQueue(IoQueueName.Held);
        string order;
        int count, countAfter;
        IoQueueName recorded;
        bool contains, containsOther;
        unsafe
        {
            q.Push(ios[2]);
            q.Push(ios[0]);
            q.Push(ios[3]);
            q.PushHead(ios[1]);
            count = q.Count;
            recorded = ios[3]->Queue;
            contains = q.Contains(ios[0]);
            IoQueue taken = q.TakeAll();
            containsOther = q.Contains(ios[0]);
            countAfter = q.Count;
            order = Drain(ref taken, ios);
        }
        await Assert.That(count).IsEqualTo(4);
        await Assert.That(recorded).IsEqualTo(IoQueueName.Held);
        await Assert.That(contains).IsTrue();
        await Assert.That(containsOther).IsFalse();
        await Assert.That(countAfter).IsEqualTo(0);
        await Assert.That(order).IsEqualTo("1,2,0,3");
    }

    [Test]
    public async Task An_io_on_one_queue_cannot_be_pushed_onto_another()
    {
        using var ios = new Ios(1);
        var done = new IoQueue(IoQueueName.Done);
        var held = new IoQueue(IoQueueName.Held);
        int before = Invariant.Violations;
        string? message = null;
        unsafe
        {
            done.Push(ios[0]);
            try
            {
                held.Push(ios[0]);
            }
            catch (InvariantViolation e)
            {
                message = e.Message;
            }
        }
        // A constant, but which one depends on NB_ASSERTS: this checks that the test build references
        // the asserting runtime, which TUnitAssertions0005 (a constant is always the same) cannot see.
#pragma warning disable TUnitAssertions0005
        await Assert.That(Invariant.Enabled).IsTrue();
#pragma warning restore TUnitAssertions0005
        await Assert.That(message).IsEqualTo("invariant violated: an element pushed onto a queue is already on one");
        await Assert.That(Invariant.Violations).IsGreaterThan(before);
        await Assert.That(held.IsEmpty).IsTrue();
    }

    [Test]
    public async Task Popping_an_io_recorded_on_another_queue_is_caught()
    {
        using var ios = new Ios(1);
        var resets = new IoQueue(IoQueueName.Resets);
        string? message = null;
        unsafe
        {
            resets.Push(ios[0]);
            ios[0]->Queue = IoQueueName.Stuck; // a stray write over the link, as a bug would make
            try
            {
                resets.Pop();
            }
            catch (InvariantViolation e)
            {
                message = e.Message;
            }
        }
        await Assert.That(message).IsEqualTo("invariant violated: the head of a queue is recorded on another queue");
    }
}
