using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Abi;

namespace NativeBdev.Tests.Abi;

/// <summary>TOOLCHAIN pitfall A made structural: every export only forwards to a NoInlining
/// method that holds the catch-all (runtime/Abi/Guard.cs). The samples below show the check
/// rejects each way an export can deviate, so a pass over the library means something.</summary>
public class ExportShapeTests
{
    [Test]
    public async Task Every_export_only_forwards_to_a_NoInlining_method_that_catches_everything()
    {
        MethodInfo[] exports = ExportShape.UnmanagedEntries(typeof(Guard).Assembly).ToArray();
        string[] problems = exports
            .Select(m => (m, problem: ExportShape.Problem(m)))
            .Where(x => x.problem != null)
            .Select(x => $"{ExportShape.Describe(x.m)}: {x.problem}")
            .ToArray();

        await Assert.That(exports.Length).IsGreaterThan(50); // the reflection found the exports
        if (problems.Length > 0)
        {
            // Every deviation at once: an assertion diff would show only the first few.
            Assert.Fail($"{problems.Length} of {exports.Length} exports deviate:\n{string.Join("\n", problems)}");
        }
    }

    [Test]
    [Arguments(nameof(Samples.Thin), null)]
    [Arguments(nameof(Samples.Stackalloc), "stackalloc")]
    [Arguments(nameof(Samples.FixedBuffer), "locals")]
    [Arguments(nameof(Samples.OwnTry), "try block")]
    [Arguments(nameof(Samples.Inlinable), "not [MethodImpl(MethodImplOptions.NoInlining)]")]
    [Arguments(nameof(Samples.CalleeWithoutCatch), "does not begin with try")]
    [Arguments(nameof(Samples.WorkBeforeCall), "has ldc.i4.1")]
    [Arguments(nameof(Samples.SwappedArguments), "in order")]
    [Arguments(nameof(Samples.DroppedArgument), "passes 1 of its 2 arguments")]
    [Arguments(nameof(Samples.HotGuardedInPlace), null)]
    [Arguments(nameof(Samples.HotStackalloc), "stackalloc")]
    [Arguments(nameof(Samples.HotStructLocal), "local of type WithFixedBuffer")]
    [Arguments(nameof(Samples.HotWithoutCatch), "not one try")]
    [Arguments(nameof(Samples.HotWorkOutsideTry), "not one try")]
    [Arguments(nameof(Samples.HotNarrowCatch), "not one try")]
    [Arguments(nameof(Samples.NamedForkChecked), null)]
    [Arguments(nameof(Samples.NamedUnchecked), "fork check")]
    [Arguments(nameof(Samples.HotNamedUnchecked), "fork check")]
    public async Task The_check_rejects_each_deviation(string sample, string? expected)
    {
        MethodInfo m = typeof(Samples).GetMethod(sample, BindingFlags.Static | BindingFlags.NonPublic)!;
        string? problem = ExportShape.Problem(m);

        if (expected == null)
        {
            await Assert.That(problem).IsNull();
        }
        else
        {
            await Assert.That(problem ?? "(accepted)").Contains(expected);
        }
    }

    /// <summary>Exports in miniature: one good, the rest each breaking one rule.</summary>
    private static unsafe class Samples
    {
        [UnmanagedCallersOnly]
        internal static int Thin(int a, int b) => Guarded(a, b);

        [UnmanagedCallersOnly]
        internal static int Stackalloc(int a, int b)
        {
            byte* p = stackalloc byte[16];
            p[0] = (byte)a;
            return Guarded(p[0], b);
        }

        [UnmanagedCallersOnly]
        internal static int FixedBuffer(int a, int b)
        {
            WithFixedBuffer v = default;
            v.Bytes[0] = (byte)a;
            return Guarded(v.Bytes[0], b);
        }

        [UnmanagedCallersOnly]
        internal static int OwnTry(int a, int b)
        {
            try
            {
                return Guarded(a, b);
            }
            catch
            {
                return -5;
            }
        }

        [UnmanagedCallersOnly]
        internal static int Inlinable(int a, int b) => NotNoInlining(a, b);

        [UnmanagedCallersOnly]
        internal static int CalleeWithoutCatch(int a, int b) => Unguarded(a, b);

        [UnmanagedCallersOnly]
        internal static int WorkBeforeCall(int a, int b) => Guarded(a + 1, b);

        [UnmanagedCallersOnly]
        internal static int SwappedArguments(int a, int b) => Guarded(b, a);

        [UnmanagedCallersOnly]
        internal static int DroppedArgument(int a, int b) => GuardedOne(a);

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotGuardedInPlace(int a, int b)
        {
            try
            {
                return checked(a + b);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotStackalloc(int a, int b)
        {
            try
            {
                byte* p = stackalloc byte[16];
                p[0] = (byte)a;
                return p[0] + b;
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotStructLocal(int a, int b)
        {
            try
            {
                WithFixedBuffer v = default;
                v.Bytes[0] = (byte)a;
                return v.Bytes[0] + b;
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotWithoutCatch(int a, int b) => Guarded(a, b);

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotWorkOutsideTry(int a, int b)
        {
            int sum = Unguarded(a, b);
            try
            {
                return checked(sum + 1);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [UnmanagedCallersOnly]
        [HotPathExport]
        internal static int HotNarrowCatch(int a, int b)
        {
            try
            {
                return checked(a + b);
            }
            catch (OverflowException e)
            {
                return Guard.Fail(e);
            }
        }

        [UnmanagedCallersOnly(EntryPoint = "sample_fork_checked")]
        internal static int NamedForkChecked(int a, int b) => ForkCheckedGuarded(a, b);

        [UnmanagedCallersOnly(EntryPoint = "sample_unchecked")]
        internal static int NamedUnchecked(int a, int b) => Guarded(a, b);

        [UnmanagedCallersOnly(EntryPoint = "sample_hot_unchecked")]
        [HotPathExport]
        internal static int HotNamedUnchecked(int a, int b)
        {
            try
            {
                return checked(a + b);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int ForkCheckedGuarded(int a, int b)
        {
            try
            {
                if (ForkGuard.InChild)
                {
                    return ForkGuard.Refused;
                }
                return checked(a + b);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Guarded(int a, int b)
        {
            try
            {
                return checked(a + b);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int GuardedOne(int a)
        {
            try
            {
                return checked(a + 1);
            }
            catch (Exception e)
            {
                return Guard.Fail(e);
            }
        }

        private static int NotNoInlining(int a, int b) => Guarded(a, b);

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int Unguarded(int a, int b) => a + b;

        private struct WithFixedBuffer
        {
            public fixed byte Bytes[16];
        }
    }
}
