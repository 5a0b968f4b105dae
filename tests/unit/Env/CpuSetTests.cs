using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Env;

public class CpuSetTests
{
    [Test]
    [Arguments("0x3", "0,1")]
    [Arguments("3", "0,1")]
    [Arguments("0X30", "4,5")]
    [Arguments("[0,2-3]", "0,2,3")]
    [Arguments(" [ 7 , 1-2 ] ", "1,2,7")]
    [Arguments("[1023]", "1023")]
    [Arguments("0x8000000000000000000000000000000000000001", "0,159")]
    public async Task Valid_masks_select_the_right_cores(string text, string cores)
    {
        int rc = CpuSet.TryParse(text, out CpuSet set);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(string.Join(",", set.ToArray())).IsEqualTo(cores);
    }

    [Test]
    [Arguments("")]
    [Arguments("  ")]
    [Arguments("0x")]
    [Arguments("0xZ")]
    [Arguments("-1")]
    [Arguments("[3-1]")]
    [Arguments("[")]
    [Arguments("[]")]
    [Arguments("[1,]")]
    [Arguments("[1")]
    [Arguments("0x0")]
    [Arguments("[5000]")]
    [Arguments("[1024]")]
    public async Task Bad_masks_are_refused_with_EINVAL(string text)
    {
        int rc = CpuSet.TryParse(text, out _);
        string message = LastError.Message;

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).IsNotEmpty();
    }

    [Test]
    public async Task Null_is_refused()
    {
        await Assert.That(CpuSet.TryParse(null, out _)).IsEqualTo(-Errno.EINVAL);
    }

    [Test]
    public async Task Indexer_count_and_intersection()
    {
        var a = new CpuSet { [1] = true, [64] = true, [1023] = true };
        var b = CpuSet.Single(64);
        var c = CpuSet.Single(2);
        a[1023] = false;

        await Assert.That(a.Count).IsEqualTo(2);
        await Assert.That(a[64] && a[1] && !a[1023] && !a[-1] && !a[5000]).IsTrue();
        await Assert.That(a.Intersects(b)).IsTrue();
        await Assert.That(a.Intersects(c)).IsFalse();
        await Assert.That(a.ToString()).IsEqualTo("[1,64]");
    }

    [Test]
    public async Task Available_includes_the_current_cpu()
    {
        CpuSet available = CpuSet.Available();

        await Assert.That(available.Count).IsGreaterThanOrEqualTo(1);
        await Assert.That(available.Count).IsLessThanOrEqualTo(System.Environment.ProcessorCount);
    }
}
