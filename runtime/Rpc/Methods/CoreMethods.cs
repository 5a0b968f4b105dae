namespace NativeBdev.Rpc.Methods;

/// <summary>The SPDK methods and our own, over the core C# API (the functions the C ABI
/// calls): framework queries, statistics, every bdev module's create and delete.</summary>
internal static class CoreMethods
{
    public static void Register(RpcServer server)
    {
        FrameworkMethods.Register(server);
        BdevMethods.Register(server);
        StatsMethods.Register(server);
        SizedDeviceMethods.Register(server, "malloc", "Malloc", nameRequired: false);
        SizedDeviceMethods.Register(server, "null", "Null", nameRequired: true);
        FileDeviceMethods.Register(server);
        VirtualBdevMethods.Register(server);
        CryptoMethods.Register(server);
        NvmeMethods.Register(server);
        NbdevMethods.Register(server);
        RaidMethods.Register(server);
        NexusMethods.Register(server);
        LvolMethods.Register(server);
        NbdMethods.Register(server);
        NbdDiskMethods.Register(server);
        NvmfMethods.Register(server);
    }
}
