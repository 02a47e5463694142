/** One tensor of a state_dict: float32 values, contiguous, row-major (C order). */
export interface WeightTensor {
  shape: number[];
  /** The dtype in the file ('float32', 'float16', 'bfloat16', 'float64', 'int64', ...). */
  dtype: string;
  data: Float32Array;
}

/** Parameter name (e.g. 'Conv2d_1a_3x3.conv.weight') -> tensor, in file order. */
export type StateDict = Map<string, WeightTensor>;
