using NativeBdev.Bdev;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevUri: pure parsing, no environment or threads needed.</summary>
public class BdevUriTests
{
    private static BdevUri Parse(string text)
    {
        int rc = BdevUri.Parse(text, out BdevUri? uri);
        if (rc != 0)
        {
            throw new InvalidOperationException($"Parse('{text}'): {rc} ({LastError.Message})");
        }
        return uri!;
    }

    /// <summary>Parse's rc and message, read on this OS thread (LastError is per thread).</summary>
    private static (int Rc, string Message, bool UriIsNull) TryParse(string? text)
    {
        LastError.Clear();
        int rc = BdevUri.Parse(text, out BdevUri? uri);
        return (rc, LastError.Message, uri == null);
    }

    private static (int Rc, string Message) Call(Func<int> f)
    {
        LastError.Clear();
        int rc = f();
        return (rc, LastError.Message);
    }

    [Test]
    [Arguments("malloc:///m0?size_mb=64", "malloc", "", "/m0", "m0")]
    [Arguments("uring:///dev/sdb?blk_size=4096", "uring", "", "/dev/sdb", "dev/sdb")]
    [Arguments("NVMF://10.0.0.1:4420/nqn.2019-05.io.spdk:cnode1", "nvmf", "10.0.0.1:4420",
        "/nqn.2019-05.io.spdk:cnode1", "nqn.2019-05.io.spdk:cnode1")]
    [Arguments("null://hostonly", "null", "hostonly", "", "")]
    [Arguments("aio+x-1.2://h/", "aio+x-1.2", "h", "/", "")]
    [Arguments("Malloc:///M0", "malloc", "", "/M0", "M0")]
    public async Task Scheme_host_path_and_name_are_split(string text, string scheme, string host, string path,
        string name)
    {
        BdevUri uri = Parse(text);

        await Assert.That(uri.Text).IsEqualTo(text);
        await Assert.That(uri.Scheme).IsEqualTo(scheme);
        await Assert.That(uri.Host).IsEqualTo(host);
        await Assert.That(uri.Path).IsEqualTo(path);
        await Assert.That(uri.Name).IsEqualTo(name);
    }

    [Test]
    public async Task Path_keys_and_values_are_percent_decoded()
    {
        BdevUri uri = Parse("malloc:///a%20b%2Fc?k%3D1=v%26w&p=a+b&utf=%C3%A9t%C3%A9&flag&x=&lower=%3f%3F");

        await Assert.That(uri.Name).IsEqualTo("a b/c");
        await Assert.That(uri.Get("k=1")).IsEqualTo("v&w");
        await Assert.That(uri.Get("p")).IsEqualTo("a b");
        await Assert.That(uri.Get("utf")).IsEqualTo("été");
        await Assert.That(uri.Has("flag")).IsTrue();
        await Assert.That(uri.Get("flag")).IsEqualTo("");
        await Assert.That(uri.Get("x")).IsEqualTo("");
        await Assert.That(uri.Get("lower")).IsEqualTo("??");
        await Assert.That(uri.Has("k%3D1")).IsFalse();
        await Assert.That(uri.Get("missing")).IsNull();
    }

    [Test]
    public async Task Empty_query_pairs_are_skipped()
    {
        BdevUri uri = Parse("null:///n?&&size_mb=1&&");

        await Assert.That(uri.Get("size_mb")).IsEqualTo("1");
        await Assert.That(uri.CheckAllUsed("size_mb")).IsEqualTo(0);
    }

    [Test]
    [Arguments("malloc:///m?a=1&a=2", "'a' is given twice")]
    [Arguments("malloc:///m?a=1&b=2&a=1", "'a' is given twice")]
    [Arguments("malloc:///m?a=1&%61=2", "'a' is given twice")]
    [Arguments("malloc:///m?flag&flag", "'flag' is given twice")]
    public async Task Duplicate_parameters_are_refused(string text, string expected)
    {
        var (rc, message, uriIsNull) = TryParse(text);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).Contains(expected);
        await Assert.That(uriIsNull).IsTrue();
    }

    [Test]
    [Arguments("malloc:///m%zz", "in its path")]
    [Arguments("malloc:///m%4", "in its path")]
    [Arguments("malloc:///m%", "in its path")]
    [Arguments("malloc:///m%C3", "in its path")]
    [Arguments("malloc:///m?k=%G1", "in its query")]
    [Arguments("malloc:///m?k=%FF", "in its query")]
    [Arguments("malloc:///m?%zz=1", "in its query")]
    [Arguments("malloc:///m?k=1%", "in its query")]
    [Arguments("malloc:///m?k=%+1", "in its query")]
    public async Task Bad_percent_encoding_is_refused(string text, string where)
    {
        var (rc, message, uriIsNull) = TryParse(text);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).Contains("bad percent-encoding " + where);
        await Assert.That(uriIsNull).IsTrue();
    }

    [Test]
    [Arguments("m0?size_mb=1", "has no scheme")]
    [Arguments("://m0", "has no scheme")]
    [Arguments("malloc:/m0", "has no scheme")]
    [Arguments("/dev/sdb", "has no scheme")]
    [Arguments("ma_lloc:///m0", "invalid character")]
    [Arguments("mal loc:///m0", "invalid character")]
    [Arguments("", "URI is empty")]
    public async Task Missing_or_malformed_scheme_is_refused(string text, string expected)
    {
        var (rc, message, uriIsNull) = TryParse(text);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).Contains(expected);
        await Assert.That(uriIsNull).IsTrue();
    }

    [Test]
    public async Task Null_and_overlong_uris_are_refused()
    {
        var nullUri = TryParse(null);
        string longest = "malloc:///" + new string('a', BdevUri.MaxLength - "malloc:///".Length);
        var atLimit = TryParse(longest);
        var overLimit = TryParse(longest + "a");

        await Assert.That(nullUri.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(nullUri.Message).Contains("empty");
        await Assert.That(atLimit.Rc).IsEqualTo(0);
        await Assert.That(overLimit.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(overLimit.Message).Contains($"longer than {BdevUri.MaxLength}");
    }

    [Test]
    public async Task Parameter_without_a_name_is_refused()
    {
        var (rc, message, _) = TryParse("malloc:///m?=5");

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).Contains("without a name");
    }

    [Test]
    public async Task GetU64_keeps_the_default_when_absent_and_checks_bounds()
    {
        BdevUri uri = Parse("null:///n?lo=1&hi=10&over=11&under=0&max=18446744073709551615&wrap=18446744073709551616" +
                            "&neg=-1&space=%201&hex=0x10&frac=1.0&plus=%2B1&empty=");
        ulong absent = 42, lo = 0, hi = 0, max = 0;
        int rcAbsent = uri.GetU64("missing", ref absent, 1, 10);
        int rcLo = uri.GetU64("lo", ref lo, 1, 10);
        int rcHi = uri.GetU64("hi", ref hi, 1, 10);
        int rcMax = uri.GetU64("max", ref max);
        var over = Call(() =>
        {
            ulong v = 7;
            int rc = uri.GetU64("over", ref v, 1, 10);
            return v == 7 ? rc : 1000; // a failed read leaves the value alone
        });
        var under = Call(() =>
        {
            ulong v = 0;
            return uri.GetU64("under", ref v, 1, 10);
        });
        string[] malformed = ["wrap", "neg", "space", "hex", "frac", "plus", "empty"];
        int[] malformedRcs = malformed.Select(k =>
        {
            ulong v = 0;
            return uri.GetU64(k, ref v);
        }).ToArray();

        await Assert.That(rcAbsent).IsEqualTo(0);
        await Assert.That(absent).IsEqualTo(42UL);
        await Assert.That(rcLo + rcHi + rcMax).IsEqualTo(0);
        await Assert.That(lo).IsEqualTo(1UL);
        await Assert.That(hi).IsEqualTo(10UL);
        await Assert.That(max).IsEqualTo(ulong.MaxValue);
        await Assert.That(over.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(over.Message).IsEqualTo("URI parameter over='11' must be an integer in 1 .. 10");
        await Assert.That(under.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(under.Message).Contains("under='0'");
        await Assert.That(malformedRcs.All(rc => rc == -Errno.EINVAL)).IsTrue();
    }

    [Test]
    public async Task GetBool_accepts_the_usual_spellings()
    {
        string[] truthy = ["1", "true", "TRUE", "yes", "On"];
        string[] falsy = ["0", "false", "No", "off"];
        string query = string.Join("&",
            truthy.Select((v, i) => $"t{i}={v}").Concat(falsy.Select((v, i) => $"f{i}={v}")));
        BdevUri uri = Parse("null:///n?" + query + "&bad=maybe&empty=");
        bool[] ts = truthy.Select((_, i) =>
        {
            bool v = false;
            return uri.GetBool($"t{i}", ref v) == 0 && v;
        }).ToArray();
        bool[] fs = falsy.Select((_, i) =>
        {
            bool v = true;
            return uri.GetBool($"f{i}", ref v) == 0 && !v;
        }).ToArray();
        bool absent = true;
        int rcAbsent = uri.GetBool("missing", ref absent);
        var bad = Call(() =>
        {
            bool v = true;
            int rc = uri.GetBool("bad", ref v);
            return v ? rc : 1000;
        });
        var empty = Call(() =>
        {
            bool v = false;
            return uri.GetBool("empty", ref v);
        });

        await Assert.That(ts.All(x => x)).IsTrue();
        await Assert.That(fs.All(x => x)).IsTrue();
        await Assert.That(rcAbsent).IsEqualTo(0);
        await Assert.That(absent).IsTrue();
        await Assert.That(bad.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(bad.Message).Contains("bad='maybe' must be true or false");
        await Assert.That(empty.Rc).IsEqualTo(-Errno.EINVAL);
    }

    [Test]
    [Arguments("4f1c2a3b-5d6e-4f70-8192-a3b4c5d6e7f8", 0)]
    [Arguments("4F1C2A3B-5D6E-4F70-8192-A3B4C5D6E7F8", 0)]
    [Arguments("4f1c2a3b5d6e4f708192a3b4c5d6e7f8", -22)]
    [Arguments("{4f1c2a3b-5d6e-4f70-8192-a3b4c5d6e7f8}", -22)]
    [Arguments("4f1c2a3b-5d6e-4f70-8192-a3b4c5d6e7f", -22)]
    [Arguments("not-a-uuid", -22)]
    [Arguments("", -22)]
    public async Task GetUuid_takes_the_8_4_4_4_12_form_only(string value, int expected)
    {
        BdevUri uri = Parse("null:///n?uuid=" + Uri.EscapeDataString(value));
        Guid g = Guid.Empty;
        var (rc, message) = Call(() => uri.GetUuid(ref g));

        await Assert.That(rc).IsEqualTo(expected);
        if (expected == 0)
        {
            await Assert.That(g).IsEqualTo(Guid.Parse(value));
        }
        else
        {
            await Assert.That(g).IsEqualTo(Guid.Empty);
            await Assert.That(message).Contains($"uuid='{value}' is not a UUID");
        }
    }

    [Test]
    public async Task GetUuid_keeps_the_default_when_absent()
    {
        BdevUri uri = Parse("null:///n?size_mb=1");
        Guid g = Guid.NewGuid(), before = g;
        int rc = uri.GetUuid(ref g);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(g).IsEqualTo(before);
    }

    [Test]
    public async Task CheckAllUsed_names_the_first_parameter_nobody_read()
    {
        BdevUri uri = Parse("malloc:///m?size_mb=4&blksize=4096&uuid=x");
        uri.Get("size_mb");
        bool hasUuid = uri.Has("uuid"); // Has is a question, not a read
        var unread = Call(() => uri.CheckAllUsed("size_mb, blk_size, uuid"));
        uri.Get("blksize");
        var uuidUnread = Call(() => uri.CheckAllUsed("size_mb, blk_size, uuid"));
        uri.Get("uuid");
        int allRead = uri.CheckAllUsed("anything");

        await Assert.That(hasUuid).IsTrue();
        await Assert.That(unread.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(unread.Message)
            .IsEqualTo("unknown parameter 'blksize' for malloc:// URIs (known: size_mb, blk_size, uuid)");
        await Assert.That(uuidUnread.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(uuidUnread.Message).Contains("'uuid'");
        await Assert.That(allRead).IsEqualTo(0);
    }

    // ---- found by these tests: see the report; skipped until the runtime is fixed ----

    [Test]
    public async Task Plus_in_the_path_is_literal()
    {
        BdevUri uri = Parse("uring:///dev/disk/by-id/a+b%20c?name=x+y");

        await Assert.That(uri.Path).IsEqualTo("/dev/disk/by-id/a+b c");
        await Assert.That(uri.Get("name")).IsEqualTo("x y");
    }

    [Test]
    public async Task Characters_outside_the_BMP_survive_decoding()
    {
        BdevUri uri = Parse("malloc:///disk\U0001F600%20x?label=\U0001F4BE%20y");

        await Assert.That(uri.Name).IsEqualTo("disk\U0001F600 x");
        await Assert.That(uri.Get("label")).IsEqualTo("\U0001F4BE y");
    }
}
