namespace RecurrentGemma.Core.Packed;

/// <summary>
/// Keeps a mapped checkpoint alive for the matrices that are views into it: each view holds one reference and disposes
/// it with itself; the mapping closes when the last reference goes (the loader holds one until loading ends, so a
/// failure half-way still unmaps).
/// </summary>
internal sealed class SharedMapping(IDisposable mapping) : IDisposable
{
    int _references = 1;

    /// <summary>A new reference (for one view); dispose it to release.</summary>
    public IDisposable Acquire()
    {
        if (Interlocked.Increment(ref _references) <= 1) throw new ObjectDisposedException(nameof(SharedMapping));
        return new Reference(this);
    }

    public void Dispose() => Release();

    void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) mapping.Dispose();
    }

    sealed class Reference(SharedMapping owner) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release();
        }
    }
}
