using System.Security.Cryptography;
using System.Text.Json;
using NativeBdev.Blob;

namespace NativeBdev.Tests.Blob;

/// <summary>The stores SPDK v25.09 wrote (fixtures/lvs) read by our blobstore parser: the store and
/// each volume as SPDK's bdev_lvol_get_lvstores / get_lvols reported them, and every volume's
/// content through its cluster map hashing to the MANIFEST's SHA-256.</summary>
public class LvolStoreFixtureTests
{
    public static IEnumerable<string> CleanImages()
    {
        foreach (string s in new[] { "lvsA", "lvsB", "pool0" })
        {
            if (LvsFixtures.Has(s + ".img"))
            {
                yield return s;
            }
        }
    }

    private static JsonDocument Json(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(LvsFixtures.Dir, file)));

    [Test]
    [MethodDataSource(nameof(CleanImages))]
    public async Task The_store_reads_as_spdk_reported_it(string store)
    {
        LvolStoreImage lvs = LvsFixtures.Load(store + ".img");
        using JsonDocument json = Json(store + ".lvstores.json");
        JsonElement e = json.RootElement[0];
        await Assert.That(lvs.Store.Replayed).IsFalse();
        await Assert.That(lvs.Store.Super.Clean).IsTrue();
        await Assert.That(lvs.Store.Super.Version).IsEqualTo(3u);
        await Assert.That(lvs.Name).IsEqualTo(e.GetProperty("name").GetString());
        await Assert.That(lvs.Uuid).IsEqualTo(e.GetProperty("uuid").GetString());
        await Assert.That((long)lvs.Store.Super.ClusterSize).IsEqualTo(e.GetProperty("cluster_size").GetInt64());
        await Assert.That((long)lvs.Store.Super.IoUnitSize).IsEqualTo(e.GetProperty("block_size").GetInt64());
        await Assert.That((long)lvs.Store.Super.TotalDataClusters)
            .IsEqualTo(e.GetProperty("total_data_clusters").GetInt64());
        await Assert.That(lvs.Store.FreeClusters).IsEqualTo(e.GetProperty("free_clusters").GetInt64());
    }

    [Test]
    [MethodDataSource(nameof(CleanImages))]
    public async Task Each_volume_reads_as_spdk_reported_it(string store)
    {
        LvolStoreImage lvs = LvsFixtures.Load(store + ".img");
        using JsonDocument json = Json(store + ".lvols.json");
        Dictionary<(string, string), long> sizes = LvsFixtures.ManifestSizesMiB();
        await Assert.That(lvs.Lvols.Count).IsEqualTo(json.RootElement.GetArrayLength());
        foreach (JsonElement e in json.RootElement.EnumerateArray())
        {
            string name = e.GetProperty("name").GetString()!;
            LvolImage? lv = lvs.Lvols.FirstOrDefault(l => l.Name == name);
            await Assert.That(lv).IsNotNull();
            await Assert.That(lv!.Uuid).IsEqualTo(e.GetProperty("uuid").GetString());
            await Assert.That(lv.IsThin).IsEqualTo(e.GetProperty("is_thin_provisioned").GetBoolean());
            await Assert.That(lv.IsSnapshot).IsEqualTo(e.GetProperty("is_snapshot").GetBoolean());
            await Assert.That(lv.IsClone).IsEqualTo(e.GetProperty("is_clone").GetBoolean());
            await Assert.That(lv.IsReadOnly).IsEqualTo(lv.IsSnapshot); // a snapshot is made read-only
            await Assert.That(lv.Blob.UsesExtentTable).IsTrue(); // SPDK v25.09's lvols use extent tables
            await Assert.That(lv.Blob.AllocatedClusters).IsEqualTo(e.GetProperty("num_allocated_clusters").GetInt64());
            await Assert.That((long)lv.SizeBytes).IsEqualTo(sizes[(store + ".img", name)] << 20);
        }
    }

    [Test]
    public async Task Clones_of_lvsA_name_snap1_as_their_parent()
    {
        LvolStoreImage lvs = LvsFixtures.Load("lvsA.img");
        LvolImage Find(string n) => lvs.Lvols.First(l => l.Name == n);
        await Assert.That(Find("vol_thin").Parent).IsSameReferenceAs(Find("snap1"));
        await Assert.That(Find("clone1").Parent).IsSameReferenceAs(Find("snap1"));
        await Assert.That(Find("snap1").Parent).IsNull();
        await Assert.That(Find("vol_thick").Parent).IsNull();
    }

    [Test]
    [MethodDataSource(nameof(CleanImages))]
    public async Task Every_volume_hashes_to_the_manifest_through_its_cluster_map(string store)
    {
        byte[] image = LvsFixtures.Image(store + ".img");
        LvolStoreImage lvs = LvsFixtures.Load(store + ".img");
        Dictionary<(string, string), string> sha = LvsFixtures.ManifestSha256();
        foreach (LvolImage lv in lvs.Lvols)
        {
            string got = Convert.ToHexStringLower(SHA256.HashData(LvsFixtures.ReadVolume(lvs, lv, image)));
            await Assert.That(got).IsEqualTo(sha[(store + ".img", lv.Name)]).Because(lv.Name);
        }
    }
}
