using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using NativeBdev.Bdev;

namespace NativeBdev.Modules;

/// <summary>The composition root: the one place that names every built-in module, as SPDK
/// links its modules' SPDK_BDEV_MODULE_REGISTER constructors into the application. Runs
/// when the library loads, before any export or test can create a bdev.</summary>
internal static class BuiltInModules
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the library's own composition root")]
    internal static void Register()
    {
        IBdevModule[] modules =
        [
            new Null.NullModule(),
            new Malloc.MallocModule(),
            new Loopback.LoopbackModule(),
            new Uring.UringModule(),
            new Aio.AioModule(),
            new Error.ErrorModule(),
            new Delay.DelayModule(),
            new Nvme.NvmeModule(),
            new Nvme.NvmfModule(),
            new Crypto.CryptoModule(),
            new Split.SplitModule(),
            new Raid.RaidModule(),
            new Nexus.NexusModule(),
            new Lvol.LvolModule(),
        ];
        foreach (IBdevModule m in modules)
        {
            int rc = BdevModules.Register(m);
            Env.Invariant.Assert(rc == 0, "a built-in module's scheme is taken twice");
        }
    }
}
