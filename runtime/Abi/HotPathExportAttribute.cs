using System;

namespace NativeBdev.Abi;

/// <summary>Marks an export called once per I/O (the read and write submissions,
/// nb_thread_poll). Such an export holds the catch-all itself instead of forwarding to a
/// NoInlining ...Guarded method: the forwarding call costs about 22 instructions per I/O
/// (docs/PERFORMANCE.md). The reason for the usual shape (<see cref="Guard"/>) still binds
/// it: its frame, and everything the compiler may inline into it, holds no stack buffer.
/// tests/unit/Abi/ExportShape.cs checks the export's own IL (a catch-all around the whole
/// body, no stackalloc, no locals but scalars and the exception); tests/c/first_call.py
/// calls it first in a fresh process, which is what would fail if an inlined callee
/// brought a stack buffer in.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class HotPathExportAttribute : Attribute
{
}
