package io.thingdb.cache.internal;

import net.rubyeye.xmemcached.transcoders.CachedData;
import net.rubyeye.xmemcached.transcoders.CompressionMode;
import net.rubyeye.xmemcached.transcoders.Transcoder;

/**
 * Passes byte arrays through untouched with flags 0. xmemcached's default transcoder would
 * serialize, set type flags and gzip values over 16 KiB, which changes the stored size (our item
 * limit check must see the real bytes) and costs CPU on every call. Stateless, thread-safe.
 */
public final class BytesTranscoder implements Transcoder<byte[]> {
  /** The shared instance. */
  public static final BytesTranscoder INSTANCE = new BytesTranscoder();

  private BytesTranscoder() {}

  @Override
  public CachedData encode(byte[] value) {
    return new CachedData(0, value);
  }

  @Override
  public byte[] decode(CachedData data) {
    return data.getData();
  }

  @Override
  public void setPrimitiveAsString(boolean primitiveAsString) {
    throw new UnsupportedOperationException("BytesTranscoder has no options");
  }

  @Override
  public void setPackZeros(boolean packZeros) {
    throw new UnsupportedOperationException("BytesTranscoder has no options");
  }

  @Override
  public void setCompressionThreshold(int threshold) {
    throw new UnsupportedOperationException("BytesTranscoder never compresses");
  }

  @Override
  public boolean isPrimitiveAsString() {
    return false;
  }

  @Override
  public boolean isPackZeros() {
    return false;
  }

  @Override
  public void setCompressionMode(CompressionMode mode) {
    throw new UnsupportedOperationException("BytesTranscoder never compresses");
  }
}
