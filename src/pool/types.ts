export interface EmbedBackend { readonly id: string; readonly dim: number; readonly hash: string;
  /** Resolves to an L2-normalised Float32Array(dim). */ embed(text: string): Promise<Float32Array>;
  close(): Promise<void>; }
