using System;
using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Nvme.Pcie;
using NativeBdev.Reactor;
using NativeBdev.Tests.Nvme;

namespace NativeBdev.Bench;

/// <summary>NvmeCallgrind null|nvme IOS DEPTH: IOS 4 KiB reads in batches of DEPTH, each
/// batch submitted (SubmitPath), served by the device (the simulated controller, on this
/// thread: not counted), then completed by polling the thread (CompletionPath). Under
/// callgrind with --toggle-collect on one of the two paths, Ir / IOS is that path's
/// instruction count per I/O.</summary>
internal static unsafe class Program
{
    private static BdevChannel s_channel = null!;
    private static BdevDesc s_desc = null!;
    private static LightweightThread s_thread = null!;
    private static void* s_buf;
    private static int s_completed;
    private static readonly nint s_callback = (nint)(delegate* unmanaged[Cdecl]<BdevIo*, int, void*, void>)&OnDone;

    private static int Main(string[] args)
    {
        if (args.Length != 3 || args[0] is not ("null" or "nvme"))
        {
            Console.Error.WriteLine("usage: NvmeCallgrind null|nvme IOS DEPTH");
            return 2;
        }
        int ios = int.Parse(args[1]), depth = int.Parse(args[2]);
        Check(NbEnvironment.Init(new EnvOptions { Name = "callgrind", HugePages = 0 }), "env");
        SimulatedNvmeController? sim = null;
        string uri = "null:///cg?size_mb=64";
        if (args[0] == "nvme")
        {
            sim = new SimulatedNvmeController("0000:ee:00.0", 131072) { ManualIo = true };
            PciFunction.Simulated = a => a == sim.Address ? sim : null;
            uri = $"pcie:///{sim.Address}/1";
        }
        Check(BdevFactory.Create(uri, out string? name), "create " + uri);
        Check(LightweightThread.Create("cg", null, out LightweightThread? t), "thread");
        s_thread = t!;
        LightweightThread.Bind(s_thread);
        Check(BdevRegistry.Open(name!, false, null, null, (_, _) => { }, out BdevDesc? desc), "open");
        s_desc = desc!;
        Check(IoChannel.Get(s_desc.Bdev.IoDevice, out IoChannel? ch), "channel");
        s_channel = (BdevChannel)ch!.State!;
        s_buf = NbEnvironment.Dma!.Alloc(4096 * depth, 4096, zero: true);
        // The queue pair is created by the controller's admin thread: one I/O through it,
        // outside both counted paths, then a warm-up (counted: divided by in run.sh).
        Prime(sim);
        for (int i = 0; i < 200; i++)
        {
            Batch(sim, depth);
        }
        for (int done = 0; done < ios; done += depth)
        {
            Batch(sim, depth);
        }
        // Both paths ran for every I/O, warm-up included: the divisor of the counts.
        Console.WriteLine($"total {s_completed}");
        return 0;
    }

    private static void Batch(SimulatedNvmeController? sim, int depth)
    {
        int target = s_completed + depth;
        SubmitPath(depth);
        while (s_completed < target)
        {
            CompletionPath(); // rings the doorbells of what was submitted
            sim?.ProcessIo();
        }
    }

    private static void Prime(SimulatedNvmeController? sim)
    {
        s_channel.Submit(s_desc, BdevIoType.Read, null, 0, s_buf, 0, 8, s_callback, 0);
        while (s_completed == 0)
        {
            s_thread.TryEnterPoll();
            s_thread.Poll(0, 0);
            s_thread.ExitPoll();
            sim?.ProcessIo();
        }
        s_completed = 0;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void SubmitPath(int depth)
    {
        for (int i = 0; i < depth; i++)
        {
            s_channel.Submit(s_desc, BdevIoType.Read, null, 0, (byte*)s_buf + 4096 * i, (ulong)i * 8, 8, s_callback, 0);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void CompletionPath()
    {
        s_thread.TryEnterPoll();
        s_thread.Poll(0, 0);
        s_thread.ExitPoll();
    }

    [System.Runtime.InteropServices.UnmanagedCallersOnly(
        CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static void OnDone(BdevIo* io, int status, void* arg)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"I/O failed: {status}");
        }
        s_completed++;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new InvalidOperationException($"{what}: {rc} ({LastError.Message})");
        }
    }
}
