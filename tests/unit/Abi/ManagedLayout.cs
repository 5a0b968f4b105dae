using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;

namespace NativeBdev.Tests.Abi;

internal sealed record ManagedField(FieldInfo Field, int Offset, int Size);

/// <summary>The C# side of the layout checks: the layout the CLR actually gives a struct, and the
/// value of a C# constant or enum member. Offsets come from <c>ldflda</c> in a dynamic method
/// rather than <see cref="System.Runtime.InteropServices.Marshal.OffsetOf"/>: the runtime is built
/// with DisableRuntimeMarshalling and passes these structs by pointer, so the managed layout is the
/// one C sees, and Marshal's marshalled layout could differ (bool, char).</summary>
internal static class ManagedLayout
{
    private static readonly MethodInfo s_sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;

    public static int SizeOf(Type t) =>
        t.IsPointer || t.IsFunctionPointer ? IntPtr.Size : (int)s_sizeOf.MakeGenericMethod(t).Invoke(null, null)!;

    public static IReadOnlyList<ManagedField> Fields(Type t) =>
        t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Select(f => new ManagedField(f, OffsetOf(t, f), SizeOf(f.FieldType)))
            .OrderBy(f => f.Offset)
            .ToList();

    /// <summary>(byte*)&amp;x.f - (byte*)&amp;x for a default x.</summary>
    private static int OffsetOf(Type t, FieldInfo f)
    {
        var dm = new DynamicMethod("OffsetOf_" + t.Name + "_" + f.Name, typeof(nint), [t.MakeByRefType()],
            typeof(ManagedLayout).Module, skipVisibility: true);
        ILGenerator il = dm.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Ldflda, f);
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Sub);
        il.Emit(OpCodes.Ret);
        object?[] args = [RuntimeHelpers.GetUninitializedObject(t)];
        return checked((int)(nint)dm.Invoke(null, args)!);
    }

    /// <summary>A C# constant (<c>const</c> field) or enum member, as a number or a string; null
    /// if the type has no such member.</summary>
    public static object? Constant(Type t, string member)
    {
        FieldInfo? f = t.GetField(member, BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
        if (f == null || !f.IsLiteral)
        {
            return null;
        }
        object raw = f.GetRawConstantValue()!;
        return raw is string ? raw : ToInteger(raw);
    }

    /// <summary>Every constant a type declares for others to use (private ones are its own
    /// business): enum members, or the non-private const fields of a class.</summary>
    public static IEnumerable<string> ConstantNames(Type t) =>
        t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(f => f.IsLiteral && !f.IsPrivate)
            .Select(f => f.Name);

    public static Int128 ToInteger(object raw) => raw switch
    {
        ulong u => u,
        uint u => u,
        ushort u => u,
        byte u => u,
        _ => Convert.ToInt64(raw),
    };
}
