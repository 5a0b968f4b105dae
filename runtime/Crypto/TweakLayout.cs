namespace NativeBdev.Crypto;

/// <summary>How a data unit's number becomes the 16-byte XTS tweak (or CBC IV).</summary>
public enum TweakLayout
{
    /// <summary>LE64(unit) then 8 zero bytes: dm-crypt's <c>plain64</c> IV (with
    /// <c>iv_large_sectors</c>) and SPDK's DPDK cryptodev and mlx5 accel modules.</summary>
    Plain64,

    /// <summary>8 zero bytes then LE64(unit): what SPDK's software accel module writes
    /// (lib/accel/accel_sw.c puts the LBA in the second 64-bit word of the tweak).</summary>
    SpdkSw,
}
