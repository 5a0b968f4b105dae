namespace NativeBdev.Tests.Abi;

/// <summary>How a layout check ends: every disagreement at once in one failure message (fixing
/// them one run at a time would be slow), and never a silent pass over an empty mapping.</summary>
internal static class Disagreements
{
    public static async Task Verdict(List<string> problems, int checkedCount)
    {
        if (problems.Count > 0)
        {
            Assert.Fail($"{problems.Count} disagreement(s):\n" + string.Join('\n', problems));
        }
        await Assert.That(checkedCount).IsGreaterThan(0);
    }
}
