using System.Runtime.CompilerServices;
using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>The registry's indexes (name, UUID) and its creation-order list: what the linear
/// scans did, in O(1). The registry is global and other tests add bdevs in parallel, so walks
/// are checked relative to this test's own bdevs.</summary>
public class BdevRegistryTests
{
    [Test]
    public async Task Bdevs_are_found_by_name_and_by_their_uuid_as_written()
    {
        Guid uuid = Guid.NewGuid();
        string name = Bdevs.Create($"null:///{Bdevs.Unique("reg")}?size_mb=1&uuid={uuid}");
        BlockDevice b = Bdevs.Find(name);
        BlockDevice? byUuid = BdevRegistry.Find(uuid.ToString());
        BlockDevice? byUpperCase = BdevRegistry.Find(uuid.ToString().ToUpperInvariant());
        BlockDevice? byBraces = BdevRegistry.Find(uuid.ToString("B"));
        var (sameUuid, _, sameUuidMessage) = Bdevs.TryCreate($"null:///{Bdevs.Unique("reg")}?size_mb=1&uuid={uuid}");
        var (namedLikeUuid, _, _) = Bdevs.TryCreate($"null:///{uuid}?size_mb=1");
        bool destroyed = Bdevs.DestroyAndWait(name);

        await Assert.That(byUuid).IsSameReferenceAs(b);
        await Assert.That(byUpperCase).IsNull(); // as the list compared: Guid.ToString's form only
        await Assert.That(byBraces).IsNull();
        await Assert.That(sameUuid).IsEqualTo(-Errno.EEXIST);
        await Assert.That(sameUuidMessage).Contains("already has UUID");
        await Assert.That(namedLikeUuid).IsEqualTo(-Errno.EEXIST);
        await Assert.That(destroyed).IsTrue();
        await Assert.That(BdevRegistry.Find(name)).IsNull();
        await Assert.That(BdevRegistry.Find(uuid.ToString())).IsNull();
    }

    [Test]
    public async Task A_uuid_cannot_be_taken_by_a_name_already_in_use()
    {
        Guid uuid = Guid.NewGuid();
        string named = Bdevs.Create($"null:///{uuid}?size_mb=1");
        var (rc, _, message) = Bdevs.TryCreate($"null:///{Bdevs.Unique("reg")}?size_mb=1&uuid={uuid}");
        bool destroyed = Bdevs.DestroyAndWait(named);

        await Assert.That(rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(message).Contains("is named like UUID");
        await Assert.That(destroyed).IsTrue();
    }

    [Test]
    public async Task Walk_follows_creation_order_and_skips_bdevs_being_removed()
    {
        string a = Bdevs.Null("walk-a"), b = Bdevs.Null("walk-b"), c = Bdevs.Null("walk-c");
        BlockDevice ba = Bdevs.Find(a), bb = Bdevs.Find(b), bc = Bdevs.Find(c);
        List<BlockDevice> all = Walk();
        int ia = all.IndexOf(ba), ib = all.IndexOf(bb), ic = all.IndexOf(bc);
        bool destroyedB = Bdevs.DestroyAndWait(b);
        BlockDevice? afterA = NextOf(ba, bc);
        bool bGone = !Walk().Contains(bb);
        BlockDevice? fromGone = BdevRegistry.Next(bb);
        bool destroyedRest = Bdevs.DestroyAndWait(a) & Bdevs.DestroyAndWait(c);

        await Assert.That(ia).IsGreaterThanOrEqualTo(0);
        await Assert.That(ib).IsGreaterThan(ia);
        await Assert.That(ic).IsGreaterThan(ib);
        await Assert.That(destroyedB).IsTrue();
        await Assert.That(afterA).IsSameReferenceAs(bc);
        await Assert.That(bGone).IsTrue();
        await Assert.That(fromGone).IsNull();
        await Assert.That(destroyedRest).IsTrue();
    }

    [Test]
    public async Task Destroyed_bdevs_are_unreachable()
    {
        // The registry's list, indexes and handle let go: what a destroyed bdev held is
        // garbage for the runtime's heap (reused, and returned to the OS at nb_env_fini).
        WeakReference[] bdevs = CreateAndDestroy(100);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        int alive = bdevs.Count(w => w.IsAlive);

        await Assert.That(alive).IsEqualTo(0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] CreateAndDestroy(int n)
    {
        var refs = new WeakReference[n];
        for (int i = 0; i < n; i++)
        {
            string name = Bdevs.Null("gone");
            refs[i] = new WeakReference(Bdevs.Find(name));
            if (!Bdevs.DestroyAndWait(name))
            {
                throw new InvalidOperationException($"bdev '{name}' was not destroyed");
            }
        }
        return refs;
    }

    private static List<BlockDevice> Walk()
    {
        var all = new List<BlockDevice>();
        for (BlockDevice? b = BdevRegistry.First(); b != null; b = BdevRegistry.Next(b))
        {
            all.Add(b);
        }
        return all;
    }

    /// <summary>The first of this test's bdevs after <paramref name="from"/> (other tests' bdevs
    /// may sit between), or <paramref name="wanted"/> itself.</summary>
    private static BlockDevice? NextOf(BlockDevice from, BlockDevice wanted)
    {
        for (BlockDevice? b = BdevRegistry.Next(from); b != null; b = BdevRegistry.Next(b))
        {
            if (b == wanted || b.Name.StartsWith("walk-", StringComparison.Ordinal))
            {
                return b;
            }
        }
        return null;
    }
}
