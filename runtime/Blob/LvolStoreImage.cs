using System.Collections.Generic;
using NativeBdev.Interop;

namespace NativeBdev.Blob;

/// <summary>The lvol store view of a blobstore of type "LVOLSTORE": the store's name and uuid
/// (xattrs of the super blob) and its volumes, with clone-to-snapshot links resolved.</summary>
internal sealed class LvolStoreImage
{
    private LvolStoreImage(BlobStoreImage store, string name, string uuid, List<LvolImage> lvols)
    {
        Store = store;
        Name = name;
        Uuid = uuid;
        Lvols = lvols;
    }

    public BlobStoreImage Store { get; }
    public string Name { get; }
    public string Uuid { get; }
    public IReadOnlyList<LvolImage> Lvols { get; }

    /// <summary>Loads the blobstore and reads it as an lvol store; 0 or a negative errno and message.</summary>
    public static int Load(IBlobDevice device, out LvolStoreImage? lvs, out string error)
    {
        lvs = null;
        int rc = BlobStoreImage.Load(device, out BlobStoreImage? store, out error);
        if (rc != 0)
        {
            return rc;
        }
        if (store!.Super.BsType != "LVOLSTORE")
        {
            error = $"the blobstore type is \"{store.Super.BsType}\", not \"LVOLSTORE\"";
            return -Errno.EILSEQ;
        }
        BlobRecord superBlob = store.Blobs[store.Super.SuperBlobId];
        string? name = superBlob.XattrString("name");
        string? uuid = superBlob.XattrString("uuid");
        if (name is null || uuid is null)
        {
            error = "the super blob has no \"name\" or no \"uuid\" xattr";
            return -Errno.EILSEQ;
        }
        var lvols = new List<LvolImage>();
        var byId = new Dictionary<ulong, LvolImage>();
        foreach (BlobRecord blob in store.Blobs.Values)
        {
            if (blob.Id == superBlob.Id)
            {
                continue;
            }
            string? lvName = blob.XattrString("name");
            string? lvUuid = blob.XattrString("uuid");
            if (lvName is null || lvUuid is null)
            {
                error = $"blob 0x{blob.Id:x} has no \"name\" or no \"uuid\" xattr";
                return -Errno.EILSEQ;
            }
            var lv = new LvolImage(blob, lvName, lvUuid, store.Super.ClusterSize);
            lvols.Add(lv);
            byId.Add(blob.Id, lv);
        }
        foreach (LvolImage lv in lvols)
        {
            if (lv.Blob.ParentId is ulong parent)
            {
                if (!byId.TryGetValue(parent, out LvolImage? p))
                {
                    error = $"volume \"{lv.Name}\" is a clone of blob 0x{parent:x}, which is not in the store";
                    return -Errno.EILSEQ;
                }
                lv.Parent = p;
                p.IsSnapshot = true;
            }
        }
        lvols.Sort((a, b) => a.Blob.Id.CompareTo(b.Blob.Id));
        lvs = new LvolStoreImage(store, name, uuid, lvols);
        return 0;
    }
}
