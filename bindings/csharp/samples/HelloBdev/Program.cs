// hello_bdev through the generated C# bindings: the same steps as examples/c/hello_bdev.c.
// Creates a malloc bdev from a URI, opens it, writes "Hello World!", reads it back, checks it
// and cleans up, host-driven: this program owns the loop and polls its one lightweight thread.
// Exits non-zero on any failure, with nb_last_error()'s message.
using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using NativeBdev.Bindings;

namespace HelloBdev;

internal static unsafe class Program
{
    // What the completion callback reports to the loop; lives on the stack of Main (the loop
    // polls until the callback ran, so the pointer handed to the library stays valid).
    private struct Completion
    {
        public int Done;
        public int Status;
    }

    private static int Main()
    {
        byte[] expected = "Hello World!"u8.ToArray();
        int rc = Nb.nb_env_init(null);
        if (rc != 0)
        {
            return Fail("nb_env_init", rc);
        }

        nb_thread* thread;
        fixed (byte* threadName = "hello"u8)
        {
            thread = Nb.nb_thread_create(threadName, null);
        }

        if (thread == null)
        {
            return Fail("nb_thread_create", -1);
        }

        Nb.nb_set_thread(thread);

        byte* name = stackalloc byte[Nb.NB_BDEV_NAME_MAX];
        fixed (byte* uri = "malloc:///Malloc0?size_mb=8&blk_size=512"u8)
        {
            rc = Nb.nb_bdev_create(uri, name, Nb.NB_BDEV_NAME_MAX);
        }

        if (rc != 0)
        {
            return Fail("nb_bdev_create", rc);
        }

        nb_bdev_desc* desc;
        if ((rc = Nb.nb_bdev_open_ext(name, 1, &OnEvent, null, &desc)) != 0)
        {
            return Fail("nb_bdev_open_ext", rc);
        }

        nb_io_channel* channel = Nb.nb_bdev_get_io_channel(desc);
        if (channel == null)
        {
            return Fail("nb_bdev_get_io_channel", -1);
        }

        uint blockSize = Nb.nb_bdev_get_block_size(Nb.nb_bdev_desc_get_bdev(desc));
        // A struct through the generated layout (fixed buffers at clang's offsets): the library
        // fills it as C sees it, so a wrong offset shows here as a wrong driver or block size.
        nb_bdev_info info;
        info.info_size = (nuint)sizeof(nb_bdev_info);
        if ((rc = Nb.nb_bdev_get_info(Nb.nb_bdev_desc_get_bdev(desc), &info)) != 0)
        {
            return Fail("nb_bdev_get_info", rc);
        }

        string driver = Utf8(info.driver);
        Console.WriteLine($"{Utf8(info.name)}: driver {driver}, {info.num_blocks} blocks of {info.block_size} bytes");
        if (driver != "malloc" || info.block_size != 512 || info.num_blocks != 8 * 1024 * 2)
        {
            return Fail("nb_bdev_get_info's fields", -1);
        }

        byte* buf = (byte*)Nb.nb_dma_zmalloc(blockSize, 0, null);
        if (buf == null)
        {
            return Fail("nb_dma_zmalloc", -1);
        }

        var data = new Span<byte>(buf, (int)blockSize);

        Completion completion;
        expected.CopyTo(data);
        if ((rc = Nb.nb_bdev_write(desc, channel, buf, 0, blockSize, &OnIo, &completion)) != 0)
        {
            return Fail("nb_bdev_write", rc);
        }

        if ((rc = Wait(thread, &completion)) != 0)
        {
            return Fail("write completion", rc);
        }

        data.Clear();
        if ((rc = Nb.nb_bdev_read(desc, channel, buf, 0, blockSize, &OnIo, &completion)) != 0)
        {
            return Fail("nb_bdev_read", rc);
        }

        if ((rc = Wait(thread, &completion)) != 0)
        {
            return Fail("read completion", rc);
        }

        string read = Encoding.UTF8.GetString(data[..data.IndexOf((byte)0)]);
        Console.WriteLine($"Read string from bdev: {read}");
        if (!data[..expected.Length].SequenceEqual(expected) || data[expected.Length] != 0)
        {
            return Fail("compare", -1);
        }

        Nb.nb_dma_free(buf);
        Nb.nb_put_io_channel(channel);
        Nb.nb_bdev_close(desc);
        if ((rc = Nb.nb_bdev_destroy(name, null, null)) != 0)
        {
            return Fail("nb_bdev_destroy", rc);
        }

        Nb.nb_set_thread(null);
        Nb.nb_thread_exit(thread);
        while (Nb.nb_thread_is_exited(thread) != 1)
        {
            Nb.nb_thread_poll(thread, 0, 0);
        }

        Nb.nb_thread_destroy(thread);
        if ((rc = Nb.nb_env_fini()) != 0)
        {
            return Fail("nb_env_fini", rc);
        }

        Console.WriteLine($"hello_bdev (C#): ok, libnativebdev {Utf8(Nb.nb_version())}");
        return 0;
    }

    private static int Wait(nb_thread* thread, Completion* completion)
    {
        while (completion->Done == 0)
        {
            Nb.nb_thread_poll(thread, 0, 0);
        }

        completion->Done = 0;
        return completion->Status;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnIo(nb_bdev_io* io, int status, void* arg)
    {
        var completion = (Completion*)arg;
        completion->Status = status;
        completion->Done = 1;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnEvent(int type, nb_bdev* bdev, void* ctx) =>
        Console.WriteLine($"event {type} on {Utf8(Nb.nb_bdev_get_name(bdev))}");

    private static string Utf8(byte* s) => Marshal.PtrToStringUTF8((nint)s) ?? "";

    private static int Fail(string what, int rc)
    {
        Console.Error.WriteLine($"hello_bdev: {what} failed ({rc}): {Utf8(Nb.nb_last_error())}");
        return 1;
    }
}
