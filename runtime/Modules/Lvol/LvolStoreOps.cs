using System;
using NativeBdev.Env;
using NativeBdev.Interop;

namespace NativeBdev.Modules.Lvol;

/// <summary>Store-level operations and look-ups the RPCs need: a volume by alias or UUID, and a
/// store's rename (its name xattr on the super blob, then the in-memory name).</summary>
internal static class LvolStoreOps
{
    /// <summary>The volume <paramref name="name"/> names: its alias LVS/NAME (our bdev's name as it
    /// was registered, or as it reads after a rename) or its UUID, as SPDK's RPCs accept them.</summary>
    public static LvolBdev? FindVolume(string name)
    {
        foreach (LvolStore s in LvolStore.All())
        {
            foreach (LvolBdev v in s.Volumes)
            {
                if (v.Removing)
                {
                    continue;
                }
                if (v.Name == name || s.Name + "/" + v.LvolName == name ||
                    string.Equals(v.Uuid.ToString(), name, StringComparison.OrdinalIgnoreCase))
                {
                    return v;
                }
            }
        }
        return null;
    }

    public static int Rename(LvolStore s, string newName)
    {
        int rc = s.CheckOwner();
        if (rc != 0 || (rc = LvolStore.CheckName(newName, "lvol store")) != 0)
        {
            return rc;
        }
        if (LvolStore.Find(newName) != null)
        {
            return LastError.Set(Errno.EEXIST, $"an lvol store named '{newName}' is loaded already");
        }
        byte[]? old = LvolBlob.Get(s.SuperBlob.Xattrs, "name");
        s.SuperBlob.SetString("name", newName);
        if ((rc = LvolVolumes.WithMd(s, io => s.Persist(io, s.SuperBlob))) != 0)
        {
            LvolBlob.Set(s.SuperBlob.Xattrs, "name", old!);
            return rc;
        }
        return s.Rename(newName);
    }
}
