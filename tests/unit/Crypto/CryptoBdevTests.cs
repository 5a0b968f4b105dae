using System.Diagnostics;
using System.Text;
using NativeBdev.Bdev;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;
using NativeBdev.Reactor;
using NativeBdev.Tests.Support;
using static NativeBdev.Tests.Crypto.CryptoKeyRegistryTests;

namespace NativeBdev.Tests.Crypto;

/// <summary>crypto:// over malloc, uring and SPDK's own ciphertext: data round-trips, the base
/// holds the ciphertext an independent AES-XTS (python3-cryptography) computes, SPDK's images
/// read back and are reproduced byte for byte, and the vbdev's life follows its key and base.</summary>
[NotInParallel(Keys.Threads)]
public class CryptoBdevTests
{
    private static (int Rc, string? Name, string Message) CreateOn(LightweightThread t, string uri) =>
        Bdevs.Bound(t, () => Bdevs.TryCreate(uri));

    private static string NewKey(string key = K128, string key2 = K128b, string? tweak = null)
    {
        string name = Bdevs.Unique("key");
        var (rc, message) = CryptoKeyRegistryTests.Create(name, "AES_XTS", key, key2, tweak);
        if (rc != 0)
        {
            throw new InvalidOperationException(message);
        }
        return name;
    }

    /// <summary>What SPDK's fixtures hold as plaintext: ../lvs/pattern.py NAME SEED BYTES.</summary>
    internal static byte[] Pattern(string name, int seed, int bytes)
    {
        var o = new byte[bytes];
        for (int n = 0; n < bytes / 512; n++)
        {
            byte[] unit = Encoding.ASCII.GetBytes($"{name} seed {seed} sector {n} ");
            for (int i = 0; i < 512; i++)
            {
                o[n * 512 + i] = unit[i % unit.Length];
            }
        }
        return o;
    }

    /// <summary>AES-XTS by OpenSSL through python3-cryptography: the test's oracle.</summary>
    internal static byte[] OracleEncrypt(byte[] plain, string keyHex, uint blockSize, ulong firstLba, bool plain64)
    {
        string dir = Directory.CreateTempSubdirectory("nb-xts").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "in"), plain);
            string script = "import sys\n" +
                "from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n" +
                "key=bytes.fromhex(sys.argv[1]); bs=int(sys.argv[2]); lba=int(sys.argv[3]); p64=sys.argv[4]=='1'\n" +
                "d=open(sys.argv[5]+'/in','rb').read(); o=bytearray()\n" +
                "for i in range(len(d)//bs):\n" +
                "  t=(lba+i).to_bytes(8,'little')\n" +
                "  tw=t+bytes(8) if p64 else bytes(8)+t\n" +
                "  e=Cipher(algorithms.AES(key),modes.XTS(tw)).encryptor()\n" +
                "  o+=e.update(d[i*bs:(i+1)*bs])+e.finalize()\n" +
                "open(sys.argv[5]+'/out','wb').write(o)\n";
            var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true };
            foreach (string a in new[] { "-c", script, keyHex, blockSize.ToString(), firstLba.ToString(),
                         plain64 ? "1" : "0", dir })
            {
                psi.ArgumentList.Add(a);
            }
            using Process p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException("python3-cryptography: " + err);
            }
            return File.ReadAllBytes(Path.Combine(dir, "out"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    [Arguments(512u, "plain64")]
    [Arguments(4096u, "plain64")]
    [Arguments(512u, "spdk-sw")]
    [Arguments(4096u, "spdk-sw")]
    public async Task Writes_round_trip_and_the_base_holds_what_an_independent_AES_XTS_writes(uint bs, string tweak)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("crypto-rt");
        string baseName = Bdevs.Malloc("cbase", $"size_mb=4&blk_size={bs}");
        string key = NewKey(K256, K256b, tweak);
        string name = Bdevs.Unique("crypt");
        var created = CreateOn(t, $"crypto:///{name}?base={baseName}&key_name={key}");
        BdevSession viaCrypto = BdevSession.Open(t, name);
        BdevSession viaBase = BdevSession.Open(t, baseName);
        const int blocks = 40; // 20 KiB at 512: several slots; 160 KiB at 4096: three 64 KiB steps
        int bytes = blocks * (int)bs;
        using var w = new DmaBuffer(bytes).Fill(seed: 7);
        byte[] before = w.ToArray();
        using var r = new DmaBuffer(bytes);
        using var raw = new DmaBuffer(bytes);
        int write = viaCrypto.Run(BdevIoType.Write, w.Pointer, 3, blocks);
        bool hostUntouched = w.ToArray().AsSpan().SequenceEqual(before);
        int read = viaCrypto.Run(BdevIoType.Read, r.Pointer, 3, blocks);
        int readRaw = viaBase.Run(BdevIoType.Read, raw.Pointer, 3, blocks);
        byte[] expected = OracleEncrypt(before, K256 + K256b, bs, 3, tweak == "plain64");
        viaCrypto.Close();
        viaBase.Close();
        int keyBusyAfterClose = CryptoKeyRegistry.Destroy(key); // the bdev still holds it
        Bdevs.DestroyAndWait(name, t);
        int keyFreed = CryptoKeyRegistry.Destroy(key);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(write + read + readRaw).IsEqualTo(0);
        await Assert.That(hostUntouched).IsTrue();
        await Assert.That(r.HasPattern(7)).IsTrue();
        await Assert.That(raw.ToArray().AsSpan().SequenceEqual(expected)).IsTrue();
        await Assert.That(keyBusyAfterClose).IsEqualTo(-Errno.EBUSY);
        await Assert.That(keyFreed).IsEqualTo(0);
    }

    [Test]
    public async Task Vectored_io_with_blocks_split_across_entries_write_zeroes_and_unmap()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("crypto-vec");
        string baseName = Bdevs.Malloc("cvbase", "size_mb=4&blk_size=512");
        string name = Bdevs.Unique("cvec");
        var created = CreateOn(t, $"crypto:///{name}?base={baseName}&cipher=AES_XTS&key={K128}&key2={K128b}");
        BdevSession s = BdevSession.Open(t, name);
        BdevSession viaBase = BdevSession.Open(t, baseName);
        using var w = new DmaBuffer(8 * 512).Fill(seed: 21);
        using var r = new DmaBuffer(8 * 512);
        using var writeIovs = new IovArray(w.Pointer, 100, 1000, 1, 2995); // blocks span entries
        using var readIovs = new IovArray(r.Pointer, 511, 2, 1535, 2048);
        int write = s.RunV(BdevIoType.Write, writeIovs, 10, 8);
        int read = s.RunV(BdevIoType.Read, readIovs, 10, 8);
        bool same = r.HasPattern(21);
        int zeroes = s.Run(BdevIoType.WriteZeroes, 0, 10, 300); // 150 KiB: three slots' worth
        using var z = new DmaBuffer(300 * 512).FillByte(0xee);
        using var zr = new DmaBuffer(300 * 512);
        int readZ = s.Run(BdevIoType.Read, z.Pointer, 10, 300);
        int readZRaw = viaBase.Run(BdevIoType.Read, zr.Pointer, 10, 300);
        byte[] encryptedZeroes = OracleEncrypt(new byte[300 * 512], K128 + K128b, 512, 10, plain64: false);
        int flush = s.Run(BdevIoType.Flush, 0, 0, 8);
        int unmap = s.Run(BdevIoType.Unmap, 0, 10, 8);
        int reset = s.Run(BdevIoType.Reset, 0, 0, 0);
        using var u = new DmaBuffer(8 * 512);
        using var ub = new DmaBuffer(8 * 512);
        int readU = s.Run(BdevIoType.Read, u.Pointer, 10, 8);
        int readUBase = viaBase.Run(BdevIoType.Read, ub.Pointer, 10, 8);
        s.Close();
        viaBase.Close();
        Bdevs.DestroyAndWait(name, t);
        bool inlineKeyGone = CryptoKeyRegistry.Snapshot().All(k => k.Name != name);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(created.Rc).IsEqualTo(0);
        await Assert.That(write + read).IsEqualTo(0);
        await Assert.That(same).IsTrue();
        await Assert.That(zeroes + readZ + readZRaw).IsEqualTo(0);
        await Assert.That(z.IsZero()).IsTrue();
        await Assert.That(zr.ToArray().AsSpan().SequenceEqual(encryptedZeroes)).IsTrue();
        await Assert.That(flush + unmap + reset + readU + readUBase).IsEqualTo(0);
        // Malloc's unmap zeroes; the vbdev decrypts those zeroes: neither zeroes nor the data.
        await Assert.That(ub.IsZero()).IsTrue();
        await Assert.That(u.IsZero()).IsFalse();
        await Assert.That(u.HasPattern(21)).IsFalse();
        await Assert.That(inlineKeyGone).IsTrue();
    }

    [Test]
    [Arguments("spdk-sw-512.img.xz", 512u, 64)]
    [Arguments("spdk-sw-4k.img.xz", 4096u, 8)]
    public async Task SPDK_software_crypto_images_read_back_and_are_reproduced(string image, uint bs, int blocks)
    {
        string dir = Directory.CreateTempSubdirectory("nb-spdk-crypto").FullName;
        try
        {
            string copy = Path.Combine(dir, "spdk.img"), fresh = Path.Combine(dir, "ours.img");
            Decompress(Path.Combine(Fixtures.Directory(), "crypto", image), copy);
            byte[] spdkBytes = File.ReadAllBytes(copy);
            File.WriteAllBytes(fresh, new byte[spdkBytes.Length]);
            byte[] plain = Pattern("crypto", 1, 32768);

            using var host = new ThreadHost();
            LightweightThread t = host.Create("crypto-spdk");
            string key = NewKey(); // spdk-sw by default: what these images need
            string wrongKey = NewKey(K128b, K128);
            string u1 = Bdevs.Unique("u1"), u2 = Bdevs.Unique("u2");
            Bdevs.Bound(t, () => Bdevs.Create($"uring://{copy}?blk_size={bs}&direct=0&name={u1}"));
            Bdevs.Bound(t, () => Bdevs.Create($"uring://{fresh}?blk_size={bs}&direct=0&name={u2}"));
            string c1 = Bdevs.Unique("c1"), c2 = Bdevs.Unique("c2"), c3 = Bdevs.Unique("c3");
            var r1 = CreateOn(t, $"crypto:///{c1}?base={u1}&key_name={key}");
            var r2 = CreateOn(t, $"crypto:///{c2}?base={u2}&key_name={key}");
            BdevSession s1 = BdevSession.Open(t, c1), s2 = BdevSession.Open(t, c2);
            using var buf = new DmaBuffer(32768);
            int read = s1.Run(BdevIoType.Read, buf.Pointer, 5, (ulong)blocks);
            bool readsPlain = buf.ToArray().AsSpan().SequenceEqual(plain);
            plain.CopyTo(buf.Span);
            int write = s2.Run(BdevIoType.Write, buf.Pointer, 5, (ulong)blocks);
            int flush = s2.Run(BdevIoType.Flush, 0, 0, 1);
            s1.Close();
            var r3 = CreateOn(t, $"crypto:///{c3}?base={u1}&key_name={wrongKey}");
            BdevSession s3 = BdevSession.Open(t, c3);
            int wrongRead = s3.Run(BdevIoType.Read, buf.Pointer, 5, (ulong)blocks);
            bool wrongIsPlain = buf.ToArray().AsSpan().SequenceEqual(plain);
            s2.Close();
            s3.Close();
            foreach (string n in new[] { c1, c2, c3, u1, u2 })
            {
                Bdevs.DestroyAndWait(n, t);
            }
            CryptoKeyRegistry.Destroy(key);
            CryptoKeyRegistry.Destroy(wrongKey);
            byte[] ours = File.ReadAllBytes(fresh);

            await Assert.That(r1.Rc + r2.Rc + r3.Rc).IsEqualTo(0);
            await Assert.That(read).IsEqualTo(0);
            await Assert.That(readsPlain).IsTrue();
            await Assert.That(write + flush).IsEqualTo(0);
            await Assert.That(ours.AsSpan().SequenceEqual(spdkBytes)).IsTrue();
            await Assert.That(wrongRead).IsEqualTo(0); // a wrong key reads garbage, not an error
            await Assert.That(wrongIsPlain).IsFalse();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void Decompress(string xz, string into)
    {
        var psi = new ProcessStartInfo("/usr/bin/xz", ["-dc", xz]) { RedirectStandardOutput = true };
        using Process p = Process.Start(psi)!;
        using (FileStream o = File.Create(into))
        {
            p.StandardOutput.BaseStream.CopyTo(o);
        }
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"xz -dc {xz} failed");
        }
    }

    [Test]
    [Arguments("crypto:///X?key_name=k", "base=")]
    [Arguments("crypto:///X?base=B", "either key_name")]
    [Arguments("crypto:///X?base=B&key_name=k&key=00", "either key_name")]
    [Arguments("crypto:///?base=B&key_name=k", "")]
    [Arguments("crypto:///X?base=B&key_name=k&blk_size=512", "unknown parameter 'blk_size'")]
    [Arguments("crypto:///X?base=B&cipher=AES_XTS&key2=00", "key")]
    [Arguments("crypto:///X?base=B&cipher=AES_XTS&key=0011&key2=0022", "key:")]
    [Arguments("crypto:///X?base=B&cipher=DES&key=" + K128 + "&key2=" + K128b, "cipher 'DES'")]
    [Arguments("crypto:///X?base=B&key=" + K128 + "&key2=" + K128, "key2: equal")]
    [Arguments("crypto:///X?base=B&key=" + K128 + "&key2=" + K128b + "&tweak_mode=essiv", "tweak_mode")]
    [Arguments("crypto:///X?base=B&key_name=nope", "no crypto key named 'nope'")]
    [Arguments("crypto:///X?base=nobase&key_name=k", "no bdev named 'nobase'")]
    [Arguments("crypto:///X?base=B&key=%zz" + K128, "bad percent-encoding")]
    public async Task Bad_uris_are_refused_with_a_message_that_never_quotes_a_key(string uriTemplate, string says)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("crypto-bad");
        string baseName = Bdevs.Malloc("cbad", "size_mb=1");
        string x = Bdevs.Unique("x");
        string uri = uriTemplate.Replace("///X", "///" + x).Replace("base=B", "base=" + baseName);
        var (rc, name, message) = CreateOn(t, uri);
        bool created = BdevRegistry.Find(x) != null;
        bool keyLeft = CryptoKeyRegistry.Snapshot().Any(k => k.Name == x);
        int descriptors = Bdevs.Find(baseName).Descriptors.Count;
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(rc).IsLessThan(0);
        await Assert.That(name).IsNull();
        await Assert.That(message).Contains(says);
        await Assert.That(message).DoesNotContain("112233");
        await Assert.That(message).DoesNotContain("eeddcc");
        await Assert.That(created).IsFalse();
        await Assert.That(keyLeft).IsFalse();
        await Assert.That(descriptors).IsEqualTo(0);
    }

    [Test]
    public async Task Deleting_an_open_vbdev_sends_remove_and_its_base_removal_removes_it()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("crypto-rm");
        string baseName = Bdevs.Malloc("crm", "size_mb=1");
        string key = NewKey();
        string a = Bdevs.Unique("ca"), b = Bdevs.Unique("cb");
        CreateOn(t, $"crypto:///{a}?base={baseName}&key_name={key}");
        CreateOn(t, $"crypto:///{b}?base={baseName}&key_name={key}");
        BdevSession sa = BdevSession.Open(t, a), sb = BdevSession.Open(t, b);
        int busy = CryptoKeyRegistry.Destroy(key);
        string busyMessage = LastError.Message;
        bool aDone = false;
        int destroy = BdevRegistry.Destroy(a, _ => aDone = true);
        bool told = ThreadHost.PollUntil(() => sa.Events.Count > 0, t);
        sa.Close();
        bool finished = ThreadHost.PollUntil(() => aDone, t);
        bool baseDone = false;
        BdevRegistry.Destroy(baseName, _ => baseDone = true); // the vbdev over it goes first
        bool bTold = ThreadHost.PollUntil(() => sb.Events.Count > 0, t);
        sb.Close();
        bool baseFinished = ThreadHost.PollUntil(() => baseDone, t);
        int freed = CryptoKeyRegistry.Destroy(key);

        await Assert.That(busy).IsEqualTo(-Errno.EBUSY);
        await Assert.That(busyMessage).Contains(a);
        await Assert.That(busyMessage).Contains(b);
        await Assert.That(destroy).IsEqualTo(0);
        await Assert.That(told).IsTrue();
        await Assert.That(sa.Events[0].Type).IsEqualTo(BdevEventType.Remove);
        await Assert.That(finished).IsTrue();
        await Assert.That(bTold).IsTrue();
        await Assert.That(sb.Events[0].Type).IsEqualTo(BdevEventType.Remove);
        await Assert.That(baseFinished).IsTrue();
        await Assert.That(freed).IsEqualTo(0);
    }

    [Test]
    public async Task The_vbdev_writes_its_SPDK_config_without_key_material()
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create("crypto-cfg");
        string baseName = Bdevs.Malloc("ccfg", "size_mb=1");
        string name = Bdevs.Unique("ccfg");
        CreateOn(t, $"crypto:///{name}?base={baseName}&key={K128}&key2={K128b}");
        string config = BdevConfig.Subsystem();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(config).Contains("\"bdev_crypto_create\"");
        await Assert.That(config).Contains($"\"base_bdev_name\": \"{baseName}\"");
        await Assert.That(config).Contains($"\"key_name\": \"{name}\"");
        await Assert.That(config).DoesNotContain(K128);
    }

    [Test]
    [Arguments(1)]
    [Arguments(32)]
    [Arguments(64)] // more writes than bounce slots: some wait for one
    public async Task Crypto_io_resubmitted_from_its_completion_allocates_nothing(int depth)
    {
        using var host = new ThreadHost();
        LightweightThread t = host.Create($"crypto-alloc-{depth}");
        string baseName = Bdevs.Malloc("calloc", "size_mb=4");
        string name = Bdevs.Unique("calloc");
        CreateOn(t, $"crypto:///{name}?base={baseName}&key={K256}&key2={K256b}");
        BdevSession s = BdevSession.Open(t, name);
        using var buf = new DmaBuffer(4096).Fill(seed: 1);
        var chain = new IoChain(s.Channel, s.Desc, buf.Pointer, s.Bdev.BlockCount);
        chain.Run(t, 1_000, depth);
        long bytes = chain.Run(t, 20_000, depth);
        int errors = chain.Errors, completed = chain.Completed;
        s.Close();
        Bdevs.DestroyAndWait(name, t);
        Bdevs.DestroyAndWait(baseName, t);

        await Assert.That(completed).IsEqualTo(20_000);
        await Assert.That(errors).IsEqualTo(0);
        await Assert.That(bytes).IsEqualTo(0L);
    }
}
