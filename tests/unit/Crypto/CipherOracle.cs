using System.Diagnostics;

namespace NativeBdev.Tests.Crypto;

/// <summary>python3-cryptography (OpenSSL's EVP underneath) as an independent AES-XTS/CBC, used
/// only as a test oracle: it encrypts the same units with the same tweaks or IVs.</summary>
internal static class CipherOracle
{
    private const string Script = """
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
mode, key, unit_size, first, layout, direction = sys.argv[1:7]
key = bytes.fromhex(key); unit_size = int(unit_size); first = int(first)
data = sys.stdin.buffer.read()
out = bytearray()
for i in range(len(data) // unit_size):
    n = ((first + i) % 2**64).to_bytes(8, 'little')
    tweak = n + bytes(8) if layout == 'plain64' else bytes(8) + n
    m = modes.XTS(tweak) if mode == 'xts' else modes.CBC(tweak)
    c = Cipher(algorithms.AES(key), m)
    op = c.encryptor() if direction == 'enc' else c.decryptor()
    out += op.update(data[i * unit_size:(i + 1) * unit_size]) + op.finalize()
sys.stdout.buffer.write(out)
""";

    /// <summary>XTS: key is key || key2.</summary>
    public static byte[] Run(string mode, byte[] key, uint unitSize, ulong first, string layout, bool encrypt,
        byte[] data)
    {
        var psi = new ProcessStartInfo("python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in new[] { "-c", Script, mode, Convert.ToHexString(key), unitSize.ToString(),
                     first.ToString(), layout, encrypt ? "enc" : "dec" })
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        var output = new MemoryStream();
        Task copy = p.StandardOutput.BaseStream.CopyToAsync(output);
        Task<string> err = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(data);
        p.StandardInput.Close();
        copy.Wait();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException("python3 oracle failed: " + err.Result);
        }
        return output.ToArray();
    }
}
