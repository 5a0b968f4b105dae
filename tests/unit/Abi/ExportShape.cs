using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativeBdev.Abi;

namespace NativeBdev.Tests.Abi;

/// <summary>The one shape every [UnmanagedCallersOnly] method must have (runtime/Abi/Guard.cs),
/// read from its IL rather than its source so formatting cannot hide anything: the body loads
/// its own arguments in order, makes one call, and returns. Nothing else fits in that IL: no
/// locals and no localloc (where stack buffers live), no try block, no second call. The callee
/// must be [MethodImpl(NoInlining)] (or the compiler could fold its frame back into the
/// export's) and must open a catch-all first thing, so no exception escapes to the host. The
/// exports called once per I/O, marked [HotPathExport], hold the catch-all themselves instead
/// (<see cref="GuardedInPlace"/>).</summary>
internal static class ExportShape
{
    private static readonly Dictionary<short, OpCode> s_opcodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static readonly OpCode[] s_ldargN = [OpCodes.Ldarg_0, OpCodes.Ldarg_1, OpCodes.Ldarg_2, OpCodes.Ldarg_3];

    private readonly record struct Instruction(int At, OpCode Op, long Operand);

    /// <summary>Every method of the assembly that native code can call.</summary>
    public static IEnumerable<MethodInfo> UnmanagedEntries(Assembly assembly) =>
        assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic |
                                          BindingFlags.DeclaredOnly))
            .Where(m => m.IsDefined(typeof(UnmanagedCallersOnlyAttribute)));

    public static string Describe(MethodInfo m) =>
        $"{m.DeclaringType!.Name}.{m.Name} ({m.GetCustomAttribute<UnmanagedCallersOnlyAttribute>()?.EntryPoint})";

    /// <summary>What is wrong with the export's shape, or null.</summary>
    public static string? Problem(MethodInfo export)
    {
        MethodBody body = export.GetMethodBody()!;
        List<Instruction> il = Decode(body.GetILAsByteArray()!);
        if (il.Any(i => i.Op == OpCodes.Localloc))
        {
            return "uses stackalloc (localloc) in its own frame";
        }
        if (export.IsDefined(typeof(HotPathExportAttribute)))
        {
            return GuardedInPlace(export, body, il) ?? ForkCheckFirst(export, export);
        }
        if (body.ExceptionHandlingClauses.Count > 0)
        {
            return "has a try block of its own (it belongs in the NoInlining callee)";
        }
        if (body.LocalVariables.Count > 0)
        {
            return $"has {body.LocalVariables.Count} locals (its frame must hold nothing)";
        }
        string? problem = SingleForwardingCall(export, il, out MethodBase? callee);
        if (problem != null)
        {
            return problem;
        }
        if ((callee!.MethodImplementationFlags & MethodImplAttributes.NoInlining) == 0)
        {
            return $"calls {callee.Name}, which is not [MethodImpl(MethodImplOptions.NoInlining)]";
        }
        return CatchAllFirst(callee) ?? ForkCheckFirst(export, callee);
    }

    /// <summary>A named export (an entry point the host calls) opens its try with the fork
    /// check, <c>if (ForkGuard.InChild) return ...;</c>, before anything else can run: in a
    /// fork()ed child any other work may wait forever (runtime/Abi/ForkGuard.cs).</summary>
    private static string? ForkCheckFirst(MethodInfo export, MethodBase guarded)
    {
        if (export.GetCustomAttribute<UnmanagedCallersOnlyAttribute>()?.EntryPoint == null)
        {
            return null;
        }
        MethodBody body = guarded.GetMethodBody()!;
        List<Instruction> il = Decode(body.GetILAsByteArray()!);
        ExceptionHandlingClause first = body.ExceptionHandlingClauses.OrderBy(c => c.TryOffset).First();
        Instruction opening = il.SkipWhile(i => i.At < first.TryOffset).First(i => i.Op != OpCodes.Nop);
        MethodBase? called = opening.Op == OpCodes.Call ? guarded.Module.ResolveMethod((int)opening.Operand) : null;
        bool checks = called != null && called.DeclaringType == typeof(ForkGuard) &&
                      called.Name == "get_" + nameof(ForkGuard.InChild);
        return checks ? null
            : $"{guarded.Name} does not open its try with the fork check (if (ForkGuard.InChild) return ...;)";
    }

    /// <summary>ldarg 0 .. n-1 (nops allowed: Debug builds), one call, ret.</summary>
    private static string? SingleForwardingCall(MethodInfo export, List<Instruction> il, out MethodBase? callee)
    {
        callee = null;
        int nextArg = 0;
        foreach (Instruction i in il)
        {
            if (i.Op == OpCodes.Nop)
            {
                continue;
            }
            int arg = Array.IndexOf(s_ldargN, i.Op);
            arg = arg >= 0 ? arg : i.Op == OpCodes.Ldarg_S || i.Op == OpCodes.Ldarg ? (int)i.Operand : -1;
            if (arg >= 0 && callee == null)
            {
                if (arg != nextArg++)
                {
                    return $"loads argument {arg} at IL_{i.At:x4}, not {nextArg - 1}: arguments pass through in order";
                }
            }
            else if (i.Op == OpCodes.Call && callee == null)
            {
                callee = export.Module.ResolveMethod((int)i.Operand);
            }
            else if (i.Op == OpCodes.Ret && callee != null && i == il[^1])
            {
                int n = export.GetParameters().Length;
                return nextArg == n ? null : $"passes {nextArg} of its {n} arguments";
            }
            else
            {
                return $"has {i.Op.Name} at IL_{i.At:x4} (the body must be one call passing the arguments through)";
            }
        }
        return "has no ret";
    }

    /// <summary>A [HotPathExport] holds its own catch-all: the try opens the body and the
    /// catch takes everything, and the frame holds no buffer — no localloc (checked above), no
    /// locals but scalars, pointers and the caught exception (a struct local could carry a
    /// fixed buffer).</summary>
    private static string? GuardedInPlace(MethodInfo export, MethodBody body, List<Instruction> il)
    {
        LocalVariableInfo? buffer = body.LocalVariables.FirstOrDefault(l =>
            !(l.LocalType.IsPrimitive || l.LocalType.IsPointer || l.LocalType.IsEnum ||
              typeof(Exception).IsAssignableFrom(l.LocalType)));
        if (buffer != null)
        {
            return $"[HotPathExport] has a local of type {buffer.LocalType.Name} (only scalars may live in its frame)";
        }
        bool catchAllFirst = body.ExceptionHandlingClauses.Count == 1 && body.ExceptionHandlingClauses.All(c =>
            c.Flags == ExceptionHandlingClauseOptions.Clause &&
            (c.CatchType == typeof(Exception) || c.CatchType == typeof(object)) &&
            il.TakeWhile(i => i.At < c.TryOffset).All(i => i.Op == OpCodes.Nop) &&
            il.SkipWhile(i => i.At < c.HandlerOffset + c.HandlerLength).All(AfterTheCatch));
        return catchAllFirst ? null
            : $"[HotPathExport] {export.Name} is not one try {{ }} catch (Exception) around its whole body";
    }

    // What may follow the handler: the result's load and the return.
    private static bool AfterTheCatch(Instruction i) =>
        i.Op == OpCodes.Nop || i.Op == OpCodes.Ret || i.Op.Name!.StartsWith("ldloc", StringComparison.Ordinal);

    /// <summary>The callee's body must begin (after nops) with a try whose handler catches
    /// everything: Exception, or object (a bare catch).</summary>
    private static string? CatchAllFirst(MethodBase callee)
    {
        MethodBody body = callee.GetMethodBody()!;
        List<Instruction> il = Decode(body.GetILAsByteArray()!);
        bool catchAll = body.ExceptionHandlingClauses.Any(c =>
            c.Flags == ExceptionHandlingClauseOptions.Clause &&
            (c.CatchType == typeof(Exception) || c.CatchType == typeof(object)) &&
            il.TakeWhile(i => i.At < c.TryOffset).All(i => i.Op == OpCodes.Nop));
        return catchAll ? null : $"calls {callee.Name}, which does not begin with try {{ }} catch (Exception)";
    }

    /// <summary>ECMA-335 III: one- or two-byte opcodes, operands sized by their type.</summary>
    private static List<Instruction> Decode(byte[] il)
    {
        var list = new List<Instruction>();
        int pc = 0;
        while (pc < il.Length)
        {
            int at = pc;
            short value = il[pc++];
            if (value == 0xfe)
            {
                value = (short)(0xfe00 | il[pc++]);
            }
            OpCode op = s_opcodes[value];
            long operand = 0;
            switch (op.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    operand = il[pc];
                    pc += 1;
                    break;
                case OperandType.InlineVar:
                    operand = BitConverter.ToUInt16(il, pc);
                    pc += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    operand = BitConverter.ToInt64(il, pc);
                    pc += 8;
                    break;
                case OperandType.InlineSwitch:
                    operand = BitConverter.ToInt32(il, pc);
                    pc += 4 + 4 * (int)operand;
                    break;
                default: // tokens, 32-bit branch targets and immediates, ShortInlineR
                    operand = BitConverter.ToInt32(il, pc);
                    pc += 4;
                    break;
            }
            list.Add(new Instruction(at, op, operand));
        }
        return list;
    }
}
