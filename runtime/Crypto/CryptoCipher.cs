namespace NativeBdev.Crypto;

/// <summary>The block cipher modes a <see cref="CipherKey"/> runs (SPDK's
/// <c>enum spdk_accel_cipher</c>: AES_XTS and AES_CBC).</summary>
public enum CryptoCipher
{
    /// <summary>XTS-AES (IEEE 1619) over whole 16-byte blocks: key encrypts the data, key2 the
    /// tweak. Ciphertext stealing is not implemented: data units are multiples of 16.</summary>
    AesXts,

    /// <summary>AES-CBC, the chain restarted at every data unit with an IV built from the unit
    /// number (what SPDK's DPDK cryptodev module does for QAT and AESNI_MB).</summary>
    AesCbc,
}
