namespace NativeBdev.Rpc.Methods;

/// <summary>The first set of SPDK methods, over the core C# API (the functions the C ABI
/// calls): framework queries, bdev_get_bdevs, malloc and null bdevs.</summary>
internal static class CoreMethods
{
    public static void Register(RpcServer server)
    {
        FrameworkMethods.Register(server);
        BdevMethods.Register(server);
        SizedDeviceMethods.Register(server, "malloc", "Malloc", nameRequired: false);
        SizedDeviceMethods.Register(server, "null", "Null", nameRequired: true);
        NbdMethods.Register(server);
    }
}
