using System;
using NativeBdev.Crypto;
using NativeBdev.Env;
using NativeBdev.Interop;
using static NativeBdev.Rpc.RpcParam;

namespace NativeBdev.Rpc.Methods;

/// <summary>SPDK's accel_crypto_key_create/destroy, accel_crypto_keys_get and
/// bdev_crypto_create/delete over the key registry and the crypto:// factory. Unlike SPDK,
/// accel_crypto_keys_get never returns key material, so a saved config cannot carry keys:
/// they are created again from wherever the operator keeps them.</summary>
internal static class CryptoMethods
{
    public static void Register(RpcServer server)
    {
        server.Register(new RpcMethod("accel_crypto_key_create",
            [Req("cipher", RpcParamKind.String), Req("key", RpcParamKind.String), Opt("key2", RpcParamKind.String),
             Opt("tweak_mode", RpcParamKind.String), Req("name", RpcParamKind.String)],
            CreateKey));
        server.Register(new RpcMethod("accel_crypto_key_destroy", [Req("key_name", RpcParamKind.String)],
            (call, args) => BdevRpc.Status(call, CryptoKeyRegistry.Destroy(args.String("key_name")))));
        server.Register(new RpcMethod("accel_crypto_keys_get", [Opt("key_name", RpcParamKind.String)], GetKeys));
        server.Register(new RpcMethod("bdev_crypto_create",
            [Req("base_bdev_name", RpcParamKind.String), Req("name", RpcParamKind.String),
             Opt("crypto_pmd", RpcParamKind.String), Req("key_name", RpcParamKind.String)],
            (call, args) => BdevRpc.Create(call,
                $"crypto:///{BdevRpc.Q(args.String("name")!)}?base={BdevRpc.Q(args.String("base_bdev_name")!)}" +
                $"&key_name={BdevRpc.Q(args.String("key_name")!)}")));
        server.Register(new RpcMethod("bdev_crypto_delete", [Req("name", RpcParamKind.String)],
            (call, args) => BdevRpc.Delete(call, args.String("name")!, "crypto")));
    }

    private static void CreateKey(RpcCall call, RpcParams args)
    {
        // SPDK's tweak modes: SIMPLE_LBA is what its software module writes, our spdk-sw
        // layout; the others put the LBA elsewhere and have no layout here.
        string? tweak = args.String("tweak_mode");
        string? layout = tweak switch
        {
            null or "" or "SIMPLE_LBA" => null,
            "JOIN_NEG_LBA_WITH_LBA" or "INCR_512_FULL_LBA" or "INCR_512_UPPER_LBA" => "",
            _ => tweak, // plain64, spdk-sw, or an unknown name the registry refuses by name
        };
        if (layout is "")
        {
            call.Error(RpcError.InvalidParams,
                $"{RpcError.InvalidParamsMessage}: 'tweak_mode' {tweak} is not supported " +
                "(SIMPLE_LBA, plain64, spdk-sw)");
            return;
        }
        // The hex goes to the registry through the stack, wiped after, never a heap array.
        string key = args.String("key")!, key2 = args.String("key2") ?? "";
        if (key.Length > MaxHexDigits || key2.Length > MaxHexDigits)
        {
            call.Error(RpcError.InvalidParams, $"{RpcError.InvalidParamsMessage}: '" +
                (key.Length > MaxHexDigits ? "key" : "key2") + $"' is longer than {MaxHexDigits} hex digits");
            return;
        }
        Span<byte> hex = stackalloc byte[2 * MaxHexDigits];
        try
        {
            int n1 = Ascii(key, hex), n2 = Ascii(key2, hex[MaxHexDigits..]);
            int rc = CryptoKeyRegistry.Create(args.String("name"), args.String("cipher"), hex[..n1],
                hex.Slice(MaxHexDigits, n2), layout);
            BdevRpc.Status(call, rc);
        }
        finally
        {
            hex.Clear();
        }
    }

    /// <summary>No key is longer than 64 bytes; a longer value is refused before it is copied.</summary>
    private const int MaxHexDigits = 128;

    /// <summary>Non-ASCII characters become '?', which the registry refuses as bad hex.</summary>
    private static int Ascii(string s, Span<byte> to)
    {
        for (int i = 0; i < s.Length; i++)
        {
            to[i] = s[i] < 0x80 ? (byte)s[i] : (byte)'?';
        }
        return s.Length;
    }

    private static void GetKeys(RpcCall call, RpcParams args)
    {
        string? only = args.String("key_name");
        CryptoKeyInfo[] keys = CryptoKeyRegistry.Snapshot();
        if (only != null && Array.FindIndex(keys, k => k.Name == only) < 0)
        {
            call.Errno(-Errno.ENOENT);
            return;
        }
        call.Result(w =>
        {
            w.WriteStartArray();
            foreach (CryptoKeyInfo k in keys)
            {
                if (only != null && k.Name != only)
                {
                    continue;
                }
                w.WriteStartObject();
                w.WriteString("name", k.Name);
                w.WriteString("cipher", k.Cipher);
                w.WriteNumber("key_bits", k.KeyBits);
                w.WriteString("tweak_mode", k.TweakMode);
                w.WriteStartArray("users");
                foreach (string u in k.Users)
                {
                    w.WriteStringValue(u);
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });
    }
}
