namespace RecurrentGemma.Tests.Support;

/// <summary>Paths to tests/data (copied beside the test assembly) and scratch directories.</summary>
public static class TestData
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "data");
    public static string Golden(string name) => Path.Combine(Root, "golden", name);

    public static string NewTempDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "rgemma-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
