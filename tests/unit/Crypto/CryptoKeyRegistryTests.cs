using System.Text;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Tests.Crypto;

/// <summary>Named keys: create, list (never the material), destroy, and every misuse answered
/// with -EINVAL naming the field (or -EEXIST / -ENOENT), never quoting the key.</summary>
public class CryptoKeyRegistryTests
{
    internal const string K128 = "00112233445566778899aabbccddeeff";
    internal const string K128b = "ffeeddccbbaa99887766554433221100";
    internal const string K256 = K128 + K128b;
    internal const string K256b = K128b + K128;

    internal static (int Rc, string Message) Create(string name, string? cipher, string? key, string? key2,
        string? tweak = null)
    {
        LastError.Clear();
        byte[] k = key == null ? [] : Encoding.ASCII.GetBytes(key);
        byte[] k2 = key2 == null ? [] : Encoding.ASCII.GetBytes(key2);
        int rc = CryptoKeyRegistry.Create(name, cipher, k, k2, tweak);
        return (rc, LastError.Message);
    }

    private static string Unique(string p) => p + "-" + Guid.NewGuid().ToString("N")[..10];

    [Test]
    public async Task Keys_are_created_listed_without_material_and_destroyed()
    {
        string a = Unique("ka"), b = Unique("kb"), c = Unique("kc");
        var ra = Create(a, "AES_XTS", K128, K128b);
        var rb = Create(b, "AES_XTS", K256, K256b, "plain64");
        var rc = Create(c, "AES_CBC", K256.ToUpperInvariant(), "", "");
        CryptoKeyInfo[] all = CryptoKeyRegistry.Snapshot();
        CryptoKeyInfo ia = all.Single(k => k.Name == a), ib = all.Single(k => k.Name == b),
            ic = all.Single(k => k.Name == c);
        int da = CryptoKeyRegistry.Destroy(a), db = CryptoKeyRegistry.Destroy(b), dc = CryptoKeyRegistry.Destroy(c);
        int again = CryptoKeyRegistry.Destroy(a);
        string againMessage = LastError.Message;

        await Assert.That(ra.Rc + rb.Rc + rc.Rc).IsEqualTo(0);
        await Assert.That((ia.Cipher, ia.KeyBits, ia.TweakMode)).IsEqualTo(("AES_XTS", 128, "spdk-sw"));
        await Assert.That((ib.Cipher, ib.KeyBits, ib.TweakMode)).IsEqualTo(("AES_XTS", 256, "plain64"));
        await Assert.That((ic.Cipher, ic.KeyBits, ic.TweakMode)).IsEqualTo(("AES_CBC", 256, "spdk-sw"));
        await Assert.That(ia.Users.Length).IsEqualTo(0);
        await Assert.That(da + db + dc).IsEqualTo(0);
        await Assert.That(again).IsEqualTo(-Errno.ENOENT);
        await Assert.That(againMessage).Contains(a);
        await Assert.That(CryptoKeyRegistry.Snapshot().Any(k => k.Name == a || k.Name == b || k.Name == c)).IsFalse();
    }

    [Test]
    [Arguments("AES_XTS", "0011", K128b, null, "key")]                 // too short
    [Arguments("AES_XTS", K128 + "00", K128b + "00", null, "key")]     // 17 bytes
    [Arguments("AES_XTS", K128 + "0", K128b, null, "key")]             // odd digits
    [Arguments("AES_XTS", "zz112233445566778899aabbccddeeff", K128b, null, "key")] // not hex
    [Arguments("AES_XTS", K128, "", null, "key2")]                     // XTS without key2
    [Arguments("AES_XTS", K128, K256b, null, "key2")]                  // lengths differ
    [Arguments("AES_XTS", K128, K128, null, "key2")]                   // key == key2
    [Arguments("AES_XTS", K128, "ffeeddccbbaa9988776655443322110g", null, "key2")] // key2 not hex
    [Arguments("AES_CBC", K128, K128b, null, "key2")]                  // CBC takes one key
    [Arguments("AES_ECB", K128, K128b, null, "cipher")]
    [Arguments("aes_xts", K128, K128b, null, "cipher")]
    [Arguments(null, K128, K128b, null, "cipher")]
    [Arguments("AES_XTS", K128, K128b, "plain", "tweak_mode")]
    [Arguments("AES_XTS", "", K128b, null, "key")]
    public async Task Bad_keys_are_refused_naming_the_field_and_never_quoting_the_key(string? cipher, string key,
        string key2, string? tweak, string field)
    {
        string name = Unique("bad");
        var (rc, message) = Create(name, cipher, key, key2, tweak);
        bool exists = CryptoKeyRegistry.Snapshot().Any(k => k.Name == name);

        await Assert.That(rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(message).StartsWith(field);
        await Assert.That(message).DoesNotContain("112233");
        await Assert.That(message).DoesNotContain("eeddcc");
        await Assert.That(exists).IsFalse();
    }

    [Test]
    public async Task Names_are_checked_and_unique()
    {
        string name = Unique("dup");
        var first = Create(name, "AES_XTS", K128, K128b);
        var second = Create(name, "AES_XTS", K256, K256b);
        var empty = Create("", "AES_XTS", K128, K128b);
        var control = Create("a\nb", "AES_XTS", K128, K128b);
        var longName = Create(new string('n', 256), "AES_XTS", K128, K128b);
        int unknown = CryptoKeyRegistry.Destroy(Unique("never"));
        CryptoKeyInfo kept = CryptoKeyRegistry.Snapshot().Single(k => k.Name == name);
        CryptoKeyRegistry.Destroy(name);

        await Assert.That(first.Rc).IsEqualTo(0);
        await Assert.That(second.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(kept.KeyBits).IsEqualTo(128); // the first key stays
        await Assert.That(empty.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(empty.Message).StartsWith("name");
        await Assert.That(control.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(longName.Rc).IsEqualTo(-Errno.EINVAL);
        await Assert.That(unknown).IsEqualTo(-Errno.ENOENT);
    }

    [Test]
    public async Task A_key_in_use_is_not_destroyed_and_the_refusal_names_its_users()
    {
        string name = Unique("busy");
        Create(name, "AES_XTS", K128, K128b);
        int a1 = CryptoKeyRegistry.Acquire(name, "vb1", out CryptoKey? k);
        int a2 = CryptoKeyRegistry.Acquire(name, "vb2", out _);
        int busy = CryptoKeyRegistry.Destroy(name);
        string message = LastError.Message;
        string[] users = CryptoKeyRegistry.Snapshot().Single(x => x.Name == name).Users;
        CryptoKeyRegistry.Release(k!, "vb1");
        int stillBusy = CryptoKeyRegistry.Destroy(name);
        CryptoKeyRegistry.Release(k!, "vb2");
        int destroyed = CryptoKeyRegistry.Destroy(name);
        int missing = CryptoKeyRegistry.Acquire(name, "vb3", out CryptoKey? none);

        await Assert.That(a1 + a2).IsEqualTo(0);
        await Assert.That(busy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(message).Contains("vb1");
        await Assert.That(message).Contains("vb2");
        await Assert.That(string.Join(",", users)).IsEqualTo("vb1,vb2");
        await Assert.That(stillBusy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(destroyed).IsEqualTo(0);
        await Assert.That(missing).IsEqualTo(-Errno.ENOENT);
        await Assert.That(none).IsNull();
    }
}
