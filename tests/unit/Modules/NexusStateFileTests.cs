using System.Text.Json;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Modules.Error;
using NativeBdev.Modules.Nexus;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;

namespace NativeBdev.Tests.Modules;

/// <summary>nexus:///...&amp;state_file=PATH: a write is acknowledged only once the file records
/// the child that failed (the file's writer is blocked in the test, and the writes wait for it,
/// not fail); the nexus made again over the same children starts the recorded child faulted,
/// reads only from the healthy one and brings the other back with a full rebuild; files that
/// are not this nexus's, are not JSON or leave no child in sync are refused.</summary>
[NotInParallel(Keys.Threads)]
public class NexusStateFileTests
{
    private const int Bs = 512;
    private const int Blocks = 2048;

    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    private static string TempPath() =>
        Path.Combine(Path.GetTempPath(), "nb-nexus-state-" + Guid.NewGuid().ToString("N")[..10] + ".json");

    /// <summary>The file's children as "name:healthy:reason", or "" while it does not exist.</summary>
    private static string Recorded(string path)
    {
        if (!File.Exists(path))
        {
            return "";
        }
        using JsonDocument d = JsonDocument.Parse(File.ReadAllBytes(path));
        return string.Join(" ", d.RootElement.GetProperty("children").EnumerateArray().Select(c =>
            $"{c.GetProperty("name").GetString()}:{c.GetProperty("healthy").GetBoolean()}:" +
            c.GetProperty("reason").GetString()));
    }

    [Test]
    public async Task Writes_wait_for_the_file_to_record_a_failed_child_and_a_nexus_made_again_trusts_only_the_other()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-state");
        string ma = Bdevs.Malloc("nsa", $"num_blocks={Blocks}&blk_size={Bs}");
        string mb = Bdevs.Malloc("nsb", $"num_blocks={Blocks}&blk_size={Bs}");
        string ea = CreateOn(t, $"error:///{ma}").Name!, eb = CreateOn(t, $"error:///{mb}").Name!;
        string path = TempPath();
        string name = Bdevs.Unique("nexus");
        string uri = $"nexus:///{name}?children={ea},{eb}&state_file={Uri.EscapeDataString(path)}";
        var made = CreateOn(t, uri);
        bool firstWritten = ThreadHost.PollUntil(() => Recorded(path) == $"{ea}:True:none {eb}:True:none", t);

        // Block the file's writer: PATH.tmp is a directory, so it cannot be created.
        Directory.CreateDirectory(path + ".tmp");
        NexusBdev n = (NexusBdev)Bdevs.Find(name);
        BdevSession s = BdevSession.Open(t, name);
        using var w = new DmaBuffer(8 * Bs).Fill(seed: 3);
        ErrorModule.Inject(ea, (int)BdevIoType.Write, ErrorModule.Failure, 1);
        var log = new IoLog();
        int failing = s.Submit(BdevIoType.Write, w.Pointer, 16, 8, log, 1);
        bool faulted = ThreadHost.PollUntil(() => n.FindChild(ea)!.State == NexusChildState.Faulted, t);
        ThreadHost.PollUntil(() => n.Reconfiguring == 0, t);
        // A later write reaches only the healthy child: it must wait too (after a crash the file
        // would otherwise still call the faulted child synced while it misses this write).
        int later = s.Submit(BdevIoType.Write, w.Pointer, 64, 8, log, 2);
        var until = DateTime.UtcNow.AddMilliseconds(400);
        while (DateTime.UtcNow < until)
        {
            ThreadHost.Poll(t);
        }
        int completedWhileBlocked = log.Count;
        string recordedWhileBlocked = Recorded(path);
        Directory.Delete(path + ".tmp");
        bool bothDone = ThreadHost.PollUntil(() => log.Count == 2, t);
        string recordedAfter = Recorded(path);
        s.Close();
        Bdevs.DestroyAndWait(name, t);

        // Made again over the same children and file: ea starts faulted and takes no reads.
        var again = CreateOn(t, uri);
        NexusBdev n2 = (NexusBdev)Bdevs.Find(name);
        NexusChild a2 = n2.FindChild(ea)!;
        var (stateAgain, reasonAgain) = (a2.State, a2.Reason);
        // The new nexus's writer has rewritten the file by now; it must still call ea faulted
        // (a writer started before the records were applied wrote both children healthy).
        Thread.Sleep(100);
        string recordedAgain = Recorded(path);
        BdevSession s2 = BdevSession.Open(t, name);
        ulong readsOfA = Bdevs.Find(ea).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        int reads = 0;
        for (int i = 0; i < 8; i++)
        {
            reads |= s2.Run(BdevIoType.Read, w.Pointer, (ulong)(i * 8), 8);
        }
        ulong readsOfALater = Bdevs.Find(ea).CollectStats().Ops[(int)BdevIoType.Read].Ops;
        int online = Bdevs.Bound(t, () => n2.Online(ea));
        NexusRebuild? job = n2.RebuildOf(a2);
        bool synced = ThreadHost.PollUntil(() => a2.Healthy, t);
        bool recordedHealthy = ThreadHost.PollUntil(() => Recorded(path) == $"{ea}:True:none {eb}:True:none", t);
        s2.Close();
        foreach (string b in new[] { name, ea, eb, ma, mb })
        {
            Bdevs.DestroyAndWait(b, t);
        }
        File.Delete(path);

        await Assert.That(made.Rc).IsEqualTo(0);
        await Assert.That(firstWritten).IsTrue();
        await Assert.That(failing + later).IsEqualTo(0);
        await Assert.That(faulted).IsTrue();
        await Assert.That(completedWhileBlocked).IsEqualTo(0);
        await Assert.That(recordedWhileBlocked).IsEqualTo($"{ea}:True:none {eb}:True:none");
        await Assert.That(bothDone).IsTrue();
        await Assert.That(log.Statuses).IsEqualTo("0,0");
        await Assert.That(recordedAfter).IsEqualTo($"{ea}:False:io_error {eb}:True:none");
        await Assert.That(again.Rc).IsEqualTo(0);
        await Assert.That(stateAgain).IsEqualTo(NexusChildState.Faulted);
        await Assert.That(reasonAgain).IsEqualTo(NexusFaultReason.IoError);
        await Assert.That(recordedAgain).IsEqualTo($"{ea}:False:io_error {eb}:True:none");
        await Assert.That(reads).IsEqualTo(0);
        await Assert.That(readsOfALater).IsEqualTo(readsOfA);
        await Assert.That(online).IsEqualTo(0);
        await Assert.That(job!.Partial).IsFalse(); // the write log did not survive the restart
        await Assert.That(synced).IsTrue();
        await Assert.That(recordedHealthy).IsTrue();
    }

    [Test]
    [Arguments("other", -Errno.EINVAL, "not 'X's")]
    [Arguments("garbage", -Errno.EINVAL, "is not JSON")]
    [Arguments("shape", -Errno.EINVAL, "is not a nexus state file")]
    [Arguments("none-healthy", -Errno.EIO, "records no child")]
    [Arguments("bad-utf8", -Errno.EINVAL, "not valid UTF-8")]
    public async Task State_files_that_cannot_be_trusted_are_refused_and_leave_nothing_behind(string kind, int rc,
        string message)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("nexus-state-bad");
        string a = Bdevs.Malloc("nsba", $"num_blocks={Blocks}&blk_size={Bs}");
        string b = Bdevs.Malloc("nsbb", $"num_blocks={Blocks}&blk_size={Bs}");
        string name = Bdevs.Unique("nexus");
        string path = TempPath();
        string child(string c, bool healthy) =>
            $"{{\"uri\":\"{c}\",\"name\":\"{c}\",\"healthy\":{(healthy ? "true" : "false")}}}";
        File.WriteAllText(path, kind switch
        {
            "other" => $"{{\"nexus\":\"other\",\"children\":[{child(a, true)}]}}",
            "garbage" => "{\"nexus\": ",
            "shape" => "[1, 2]",
            "bad-utf8" => "",
            _ => $"{{\"nexus\":\"{name}\",\"children\":[{child(a, false)},{child(b, false)}]}}",
        });
        if (kind == "bad-utf8")
        {
            // A nexus name with a byte that is no UTF-8 (what fuzz_nexus_state found first).
            File.WriteAllBytes(path, [.. "{\"nexus\":\"x"u8, 0xC3, 0x28, .. "\",\"children\":[]}"u8]);
        }
        byte[] before = File.ReadAllBytes(path);
        var r = CreateOn(t, $"nexus:///{name}?children={a},{b}&state_file={Uri.EscapeDataString(path)}");
        bool left = BdevRegistry.Find(name) != null;
        Thread.Sleep(50);
        bool untouched = File.ReadAllBytes(path).AsSpan().SequenceEqual(before);
        // The children are free again: another nexus may claim them.
        var other = CreateOn(t, $"nexus:///{name}?children={a},{b}");
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(a, t);
        Bdevs.DestroyAndWait(b, t);
        File.Delete(path);

        await Assert.That(r.Rc).IsEqualTo(rc);
        await Assert.That(r.Message).Contains(message.Replace("X", name));
        await Assert.That(left).IsFalse();
        await Assert.That(untouched).IsTrue(); // a refused nexus never writes the file
        await Assert.That(other.Rc).IsEqualTo(0);
    }
}
