namespace NativeBdev.Env;

/// <summary>Log levels, numbered as SPDK's (spdk_log_level).</summary>
internal enum LogLevel
{
    Error = 0,
    Warn = 1,
    Notice = 2,
    Info = 3,
    Debug = 4,
}
