using System;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace NativeBdev.Env;

/// <summary>Assertions that state the runtime's invariants (TigerBeetle's <c>assert</c>).
/// Compiled in where <c>NB_ASSERTS</c> is defined — the TUnit build and the asserting CTest
/// build of the .so (<c>-p:NbAsserts=true</c>) — and compiled out of the shipped library,
/// call and arguments both, so a check on the I/O path costs nothing there.
/// Messages must be constant strings: an interpolated one would be built (and allocate) on
/// every call in the asserting builds, even when the check holds, and the zero-allocation
/// tests run in those builds.</summary>
internal static class Invariant
{
#if NB_ASSERTS
    public const bool Enabled = true;
#else
    public const bool Enabled = false;
#endif

    /// <summary>Violations seen so far (a test host that throws from
    /// <see cref="OnViolation"/> still sees the count).</summary>
    public static int Violations;

    /// <summary>What a violation does besides counting and logging. Null (the library's
    /// builds): fail fast, since a broken invariant means memory may already be wrong and
    /// carrying on risks the data. A test host sets a handler that throws, so the test that
    /// broke it fails with the message and its stack.</summary>
    public static Action<string>? OnViolation;

    [Conditional("NB_ASSERTS")]
    public static void Assert([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            Fail(message);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Fail(string message)
    {
        System.Threading.Interlocked.Increment(ref Violations);
        Log.Error("invariant violated: " + message);
        Action<string>? handler = OnViolation;
        if (handler != null)
        {
            handler(message);
            return;
        }
        System.Environment.FailFast("nativebdev invariant violated: " + message);
    }
}
