namespace RecurrentGemma.Tests.Support;

/// <summary>Paths to tests/data (copied beside the test assembly) and scratch directories.</summary>
public static class TestData
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "data");
    public static string Golden(string name) => Path.Combine(Root, "golden", name);
    public static string DataFile(string relative) => Path.Combine(Root, relative);
    /// <summary>The built-in demo model's files (RecurrentGemma.Cli/demo), copied beside the tests.</summary>
    public static string DemoModel => Path.Combine(AppContext.BaseDirectory, "demo");

    /// <summary>One folder per test process, removed when it exits (mapped files may still be open: fine on Unix; elsewhere best effort).</summary>
    static readonly string TempRoot = CreateTempRoot();

    static string CreateTempRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), "rgemma-tests", $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };
        return root;
    }

    public static string NewTempDirectory()
    {
        string dir = Path.Combine(TempRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
