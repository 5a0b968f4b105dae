namespace NativeBdev.Env;

/// <summary>Options of <c>nb_env_init</c>, already validated.</summary>
internal sealed class EnvOptions
{
    public string Name = "nativebdev";
    public CpuSet CoreMask = CpuSet.Single(0);
    public long DmaPoolSize = 16L << 20;
    public long DmaPoolMaxSize = 1L << 30;
    /// <summary>1 hugepages only, 0 never, -1 when reserved (the default).</summary>
    public int HugePages = -1;
    public IovaMode IovaMode = IovaMode.Va;
    public long ReactorSpinMicroseconds = 1000;
    /// <summary>Messages a thread's ring holds (a power of two); its memory is taken as messages
    /// arrive.</summary>
    public int ThreadMessageRingSize = DefaultThreadMessageRingSize;

    public const int DefaultThreadMessageRingSize = 16384;
}
