using System;
using System.Runtime.InteropServices;

namespace FusedOpt.Models.Gadam;

/// <summary>
/// A thin binding of the few MPI calls Gadam needs, over Open MPI's <c>libmpi.so.40</c> (Debian's
/// <c>libopenmpi-dev</c>): Init, Finalize, Comm_rank, Comm_size, Allgather, Bcast, Send, Recv, Barrier, Abort. Every
/// buffer travels as MPI_BYTE on MPI_COMM_WORLD.
/// </summary>
/// <remarks>
/// <para>Open MPI's handles are addresses of global objects: MPI_COMM_WORLD is <c>&amp;ompi_mpi_comm_world</c> and
/// MPI_BYTE <c>&amp;ompi_mpi_byte</c>, so they are looked up as exported symbols; MPI_STATUS_IGNORE is a null pointer.
/// The library is opened with RTLD_GLOBAL, as Open MPI's plugins expect to find its symbols globally.</para>
/// <para>A process started by <c>mpirun</c> has <c>OMPI_COMM_WORLD_SIZE</c> set (<see cref="IsLaunchedByMpirun"/>); a
/// plain run never loads the library.</para>
/// </remarks>
public sealed unsafe class MpiComm : IGadamComm
{
    /// <summary>The library names tried, in order.</summary>
    public static readonly string[] LibraryNames = ["libmpi.so.40", "libmpi.so"];

    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;
    private const int Chunk = 1 << 30;

    private readonly nint _world;
    private readonly nint _byte;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> _allgather;
    private readonly delegate* unmanaged<void*, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<void*, int, nint, int, int, nint, int> _send;
    private readonly delegate* unmanaged<void*, int, nint, int, int, nint, void*, int> _recv;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private bool _finalized;

    private MpiComm(nint library)
    {
        _world = NativeLibrary.GetExport(library, "ompi_mpi_comm_world");
        _byte = NativeLibrary.GetExport(library, "ompi_mpi_byte");
        var init = (delegate* unmanaged<int*, byte***, int>)NativeLibrary.GetExport(library, "MPI_Init");
        var rank = (delegate* unmanaged<nint, int*, int>)NativeLibrary.GetExport(library, "MPI_Comm_rank");
        var size = (delegate* unmanaged<nint, int*, int>)NativeLibrary.GetExport(library, "MPI_Comm_size");
        _finalize = (delegate* unmanaged<int>)NativeLibrary.GetExport(library, "MPI_Finalize");
        _allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)NativeLibrary.GetExport(library, "MPI_Allgather");
        _bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)NativeLibrary.GetExport(library, "MPI_Bcast");
        _send = (delegate* unmanaged<void*, int, nint, int, int, nint, int>)NativeLibrary.GetExport(library, "MPI_Send");
        _recv = (delegate* unmanaged<void*, int, nint, int, int, nint, void*, int>)NativeLibrary.GetExport(library, "MPI_Recv");
        _barrier = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(library, "MPI_Barrier");
        _abort = (delegate* unmanaged<nint, int, int>)NativeLibrary.GetExport(library, "MPI_Abort");

        Check(init(null, null), "MPI_Init");
        int r, s;
        Check(rank(_world, &r), "MPI_Comm_rank");
        Check(size(_world, &s), "MPI_Comm_size");
        Rank = r;
        Size = s;
    }

    /// <summary>True when this process was started by Open MPI's <c>mpirun</c>.</summary>
    public static bool IsLaunchedByMpirun => Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is { Length: > 0 };

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public long BytesSent { get; private set; }

    /// <summary>Opens Open MPI and calls MPI_Init. Throws <see cref="DllNotFoundException"/> naming the packages when it is not installed.</summary>
    public static MpiComm Initialize()
    {
        foreach (string name in LibraryNames)
        {
            // RTLD_GLOBAL first, so the plugins Open MPI loads can resolve its symbols; then a handle for lookups.
            if (dlopen(name, RtldNow | RtldGlobal) != 0 && NativeLibrary.TryLoad(name, out nint handle))
            {
                return new MpiComm(handle);
            }
        }

        throw new DllNotFoundException($"gadam: Open MPI is not installed ({string.Join(", ", LibraryNames)} not found); install openmpi-bin and libopenmpi-dev.");
    }

    /// <inheritdoc />
    public void Allgather(ReadOnlySpan<byte> mine, Span<byte> all)
    {
        if (all.Length != mine.Length * Size || mine.Length > Chunk)
        {
            throw new ArgumentException($"MPI_Allgather: {Size} ranks × {mine.Length} bytes do not fill {all.Length} bytes (or exceed {Chunk}).");
        }

        fixed (byte* s = mine, r = all)
        {
            Check(_allgather(s, mine.Length, _byte, r, mine.Length, _byte, _world), "MPI_Allgather");
        }

        BytesSent += (long)mine.Length * (Size - 1);
    }

    /// <inheritdoc />
    public void Send(ReadOnlySpan<byte> data, int destination, int tag)
    {
        fixed (byte* p = data)
        {
            for (long at = 0; at < data.Length; at += Chunk)
            {
                int n = (int)Math.Min(Chunk, data.Length - at);
                Check(_send(p + at, n, _byte, destination, tag, _world), "MPI_Send");
            }
        }

        BytesSent += data.Length;
    }

    /// <inheritdoc />
    public void Receive(Span<byte> data, int source, int tag)
    {
        fixed (byte* p = data)
        {
            for (long at = 0; at < data.Length; at += Chunk)
            {
                int n = (int)Math.Min(Chunk, data.Length - at);
                Check(_recv(p + at, n, _byte, source, tag, _world, null), "MPI_Recv");
            }
        }
    }

    /// <inheritdoc />
    public void Broadcast(Span<byte> data, int root)
    {
        fixed (byte* p = data)
        {
            Check(_bcast(p, data.Length, _byte, root, _world), "MPI_Bcast");
        }

        if (Rank == root)
        {
            BytesSent += (long)data.Length * (Size - 1);
        }
    }

    /// <inheritdoc />
    public void Barrier() => Check(_barrier(_world), "MPI_Barrier");

    /// <summary>Ends every rank of the job with <paramref name="code"/> (after an error on this one, so the others do not wait forever).</summary>
    public void Abort(int code)
    {
        _finalized = true;
        _abort(_world, code);
    }

    /// <summary>Calls MPI_Finalize.</summary>
    public void Dispose()
    {
        if (!_finalized)
        {
            _finalized = true;
            _finalize();
        }
    }

    private static void Check(int code, string call)
    {
        if (code != 0)
        {
            throw new InvalidOperationException($"{call} failed with MPI error code {code}.");
        }
    }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint dlopen(string file, int mode);
}
