using NativeBdev.Bdev;
using NativeBdev.Interop;
using NativeBdev.Tests.Support;
using BlockDevice = NativeBdev.Bdev.Bdev;

namespace NativeBdev.Tests.Bdev;

/// <summary>BdevFactory and the null and malloc modules' creation paths. These share the
/// threads key only because they count the environment's DMA allocations, which the I/O
/// tests change too.</summary>
[NotInParallel(Keys.Threads)]
public class BdevFactoryTests
{
    [Test]
    [Arguments("foo:///{n}?size_mb=1", -95, "unknown URI scheme 'foo' (known: null, malloc, bdev, loopback")]
    [Arguments("malloc:///{n}?size_mb=abc", -22, "size_mb='abc' must be an integer")]
    [Arguments("malloc:///{n}?size_mb=0", -22, "size_mb='0' must be an integer in 1 ..")]
    [Arguments("malloc:///{n}?size_mb=1073741825", -22, "size_mb='1073741825'")]
    [Arguments("malloc:///{n}", -22, "malloc:// needs exactly one of size_mb, num_blocks or size (got 0)")]
    [Arguments("malloc:///{n}?blk_size=4096", -22, "(got 0)")]
    [Arguments("null:///{n}?size_mb=1&num_blocks=8", -22, "(got 2)")]
    [Arguments("null:///{n}?size_mb=1&num_blocks=8&size=4K", -22, "(got 3)")]
    [Arguments("null:///{n}?size=12Q", -22, "size='12Q' must be a positive byte count")]
    [Arguments("null:///{n}?size=0", -22, "size='0'")]
    [Arguments("null:///{n}?size=K", -22, "size='K'")]
    [Arguments("null:///{n}?size=1025T", -22, "size='1025T'")]
    [Arguments("null:///{n}?num_blocks=0", -22, "num_blocks='0'")]
    [Arguments("malloc:///{n}?size_mb=1&blk_size=1000", -22,
        "block size 1000 must be a power of two from 512 to 65536")]
    [Arguments("malloc:///{n}?size_mb=1&blk_size=256", -22, "block size 256 must be")]
    [Arguments("malloc:///{n}?size_mb=1&blk_size=131072", -22, "block size 131072 must be")]
    [Arguments("null:///{n}?size_mb=1&blk_size=0", -22, "block size 0 must be")]
    [Arguments("null:///{n}?size_mb=1&blk_size=-512", -22, "blk_size='-512'")]
    [Arguments("null:///{n}?size=1000", -22, "size 1000 bytes is not a multiple of the block size 512")]
    [Arguments("malloc:///{n}?size=6K&blk_size=4096", -22, "size 6144 bytes is not a multiple of the block size 4096")]
    [Arguments("malloc:///{n}?size_mb=1&uuid=not-a-uuid", -22, "uuid='not-a-uuid' is not a UUID")]
    [Arguments("null:///{n}?size_mb=1&uuid=", -22, "uuid='' is not a UUID")]
    [Arguments("null:///{n}?size_mb=1&blksize=4096", -22, "unknown parameter 'blksize' for null:// URIs")]
    [Arguments("malloc:///{n}?size_mb=1&name=x", -22, "unknown parameter 'name' for malloc:// URIs")]
    [Arguments("malloc:///?size_mb=1", -22, "bdev name is empty")]
    [Arguments("malloc:///{n}%26x?size_mb=1", -22, "contains a control character or one of")]
    [Arguments("malloc:///{n}%3Fx?size_mb=1", -22, "contains a control character or one of")]
    [Arguments("malloc:///{n}%23x?size_mb=1", -22, "contains a control character or one of")]
    [Arguments("null:///{n}%0A?size_mb=1", -22, "contains a control character")]
    [Arguments("bdev:///?name=x", -22, "bdev:/// needs the name of an existing bdev")]
    [Arguments("loopback:///{n}", -19, "no bdev named '{n}'")]
    [Arguments("loopback:///{n}?nmae=x", -22, "unknown parameter 'nmae' for loopback:// URIs")]
    [Arguments("not a uri", -22, "has no scheme")]
    public async Task Creation_errors_return_the_errno_and_say_why(string template, int expected,
        string messageTemplate)
    {
        string n = Bdevs.Unique("bad");
        int dmaBefore = TestEnvAllocations();
        int countBefore = BdevRegistry.Count;
        var (rc, name, message) = Bdevs.TryCreate(template.Replace("{n}", n));

        await Assert.That(rc).IsEqualTo(expected);
        await Assert.That(name).IsNull();
        await Assert.That(message).Contains(messageTemplate.Replace("{n}", n));
        await Assert.That(BdevRegistry.Find(n)).IsNull();
        await Assert.That(BdevRegistry.Count).IsEqualTo(countBefore);
        await Assert.That(TestEnvAllocations()).IsEqualTo(dmaBefore);
    }

    private static int TestEnvAllocations()
    {
        TestEnv.Ensure();
        return TestEnv.DmaAllocations;
    }

    [Test]
    public async Task Null_bdev_takes_geometry_and_uuid_from_the_uri()
    {
        string n = Bdevs.Unique("null");
        Guid uuid = Guid.NewGuid();
        string name = Bdevs.Create($"null:///{n}?num_blocks=1000&blk_size=4096&uuid={uuid}");
        BlockDevice b = Bdevs.Find(name);
        BlockDevice? byUuid = BdevRegistry.Find(uuid.ToString());
        bool inSnapshot = BdevRegistry.Snapshot().Contains(b);
        bool destroyed = Bdevs.DestroyAndWait(name);

        await Assert.That(name).IsEqualTo(n);
        await Assert.That(b.Name).IsEqualTo(n);
        await Assert.That(b.BlockSize).IsEqualTo(4096U);
        await Assert.That(b.BlockCount).IsEqualTo(1000UL);
        await Assert.That(b.SizeBytes).IsEqualTo(4_096_000UL);
        await Assert.That(b.Uuid).IsEqualTo(uuid);
        await Assert.That(b.ModuleName).IsEqualTo("null");
        await Assert.That(b.ProductName).IsEqualTo("Null disk");
        await Assert.That(byUuid).IsSameReferenceAs(b);
        await Assert.That(inSnapshot).IsTrue();
        await Assert.That(destroyed).IsTrue();
        await Assert.That(b.State).IsEqualTo(BdevState.Removed);
        await Assert.That(BdevRegistry.Find(name)).IsNull();
        await Assert.That(BdevRegistry.Destroy(name, null)).IsEqualTo(-Errno.ENODEV);
    }

    [Test]
    public async Task Malloc_bdev_takes_its_memory_from_the_dma_pool_and_gives_it_back()
    {
        string n = Bdevs.Unique("malloc");
        Guid uuid = Guid.NewGuid();
        int before = TestEnvAllocations();
        string name = Bdevs.Create($"malloc:///{n}?size=2M&blk_size=4096&uuid={uuid}");
        BlockDevice b = Bdevs.Find(name);
        int during = TestEnv.DmaAllocations;
        bool destroyed = Bdevs.DestroyAndWait(name);
        int after = TestEnv.DmaAllocations;

        await Assert.That(b.BlockSize).IsEqualTo(4096U);
        await Assert.That(b.BlockCount).IsEqualTo(512UL);
        await Assert.That(b.Uuid).IsEqualTo(uuid);
        await Assert.That(b.ModuleName).IsEqualTo("malloc");
        await Assert.That(b.ProductName).IsEqualTo("Malloc disk");
        await Assert.That(during).IsEqualTo(before + 1);
        await Assert.That(destroyed).IsTrue();
        await Assert.That(after).IsEqualTo(before);
    }

    [Test]
    [Arguments("size_mb=4", 512U, 8192UL)]
    [Arguments("num_blocks=100", 512U, 100UL)]
    [Arguments("num_blocks=100&blk_size=65536", 65536U, 100UL)]
    [Arguments("size=64K", 512U, 128UL)]
    [Arguments("size=64k&blk_size=1024", 1024U, 64UL)]
    [Arguments("size=1G&blk_size=4096", 4096U, 262144UL)]
    [Arguments("size=3T", 512U, 6442450944UL)]
    [Arguments("size=1536", 512U, 3UL)]
    public async Task Null_geometry_from_each_size_parameter(string query, uint blockSize, ulong blocks)
    {
        string name = Bdevs.Null("geo", query);
        BlockDevice b = Bdevs.Find(name);
        (uint bs, ulong count, Guid uuid) = (b.BlockSize, b.BlockCount, b.Uuid);
        Bdevs.DestroyAndWait(name);

        await Assert.That(bs).IsEqualTo(blockSize);
        await Assert.That(count).IsEqualTo(blocks);
        await Assert.That(uuid).IsNotEqualTo(Guid.Empty);
    }

    [Test]
    public async Task Duplicate_names_and_uuids_are_refused_with_EEXIST()
    {
        string n = Bdevs.Unique("dup");
        Guid uuid = Guid.NewGuid();
        string first = Bdevs.Create($"malloc:///{n}?size_mb=1&uuid={uuid}");
        int dma = TestEnv.DmaAllocations;
        var mallocAgain = Bdevs.TryCreate($"malloc:///{n}?size_mb=1");
        var nullSameName = Bdevs.TryCreate($"null:///{n}?size_mb=1");
        var sameUuid = Bdevs.TryCreate($"malloc:///{n}-2?size_mb=1&uuid={uuid}");
        var nullSameUuid = Bdevs.TryCreate($"null:///{n}-3?size_mb=1&uuid={uuid}");
        int dmaAfter = TestEnv.DmaAllocations;
        Bdevs.DestroyAndWait(first);
        // The name is free again once the bdev is gone.
        string again = Bdevs.Create($"null:///{n}?size_mb=1&uuid={uuid}");
        Bdevs.DestroyAndWait(again);

        await Assert.That(mallocAgain.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(mallocAgain.Message).Contains($"a bdev named '{n}' already exists");
        await Assert.That(nullSameName.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(sameUuid.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(sameUuid.Message).Contains($"already has UUID {uuid}");
        await Assert.That(nullSameUuid.Rc).IsEqualTo(-Errno.EEXIST);
        await Assert.That(BdevRegistry.Find(n + "-2")).IsNull();
        await Assert.That(dmaAfter).IsEqualTo(dma); // the refused malloc gave its memory back
        await Assert.That(again).IsEqualTo(n);
    }

    [Test]
    public async Task Name_longer_than_255_is_refused_with_ENAMETOOLONG()
    {
        string n = new string('x', 256);
        var tooLong = Bdevs.TryCreate($"null:///{n}?size_mb=1");
        string unique = Bdevs.Unique("l");
        string okName = unique + new string('y', 255 - unique.Length);
        var ok = Bdevs.TryCreate($"null:///{okName}?size_mb=1");
        if (ok.Rc == 0)
        {
            Bdevs.DestroyAndWait(okName);
        }

        await Assert.That(tooLong.Rc).IsEqualTo(-Errno.ENAMETOOLONG);
        await Assert.That(okName.Length).IsEqualTo(255);
        await Assert.That(ok.Rc).IsEqualTo(0);
    }

    [Test]
    public async Task Destroy_of_a_bdev_nobody_opened_completes_at_once_and_only_once()
    {
        string name = Bdevs.Null("done");
        int calls = 0, status = -1;
        int rc = BdevRegistry.Destroy(name, s =>
        {
            calls++;
            status = s;
        });
        int again = BdevRegistry.Destroy(name, _ => calls += 100);

        await Assert.That(rc).IsEqualTo(0);
        await Assert.That(calls).IsEqualTo(1);
        await Assert.That(status).IsEqualTo(0);
        await Assert.That(again).IsEqualTo(-Errno.ENODEV);
    }
}
