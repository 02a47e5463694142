// What the api adds to the store's rows so that clients can tell comparable values apart: recipe
// ids (12 hex of the recipe's key, @fidlab/features/recipe) and `comparable` flags, and the
// correlation of two metrics, computed by fid-core from the points the store returns.
import { ErrorCode, FidlabError } from '@fidlab/base';
import { correlate } from '@fidlab/fid-core';
import { allRecipesMatch, recipeId, recipeOf } from '@fidlab/features/recipe';
import type { BestResult, CorrelationPoints, EpochRow } from '@fidlab/store';

export interface EpochWithRecipes extends EpochRow {
  /** metric name -> id of its value's recipe (null: recorded without one) */
  recipes: Record<string, string | null>;
  /**
   * metric name -> true when every epoch's value of that metric in this run has one recipe (the
   * curve compares like with like); false when the recipes differ or one is missing.
   */
  comparable: Record<string, boolean>;
}

/** A run's epochs with each value's recipe id and, per metric, whether its curve is comparable. */
export function epochsWithRecipes(rows: EpochRow[]): EpochWithRecipes[] {
  const byMetric = new Map<string, unknown[]>();
  for (const row of rows)
    for (const [name, d] of Object.entries(row.details)) {
      const list = byMetric.get(name) ?? [];
      list.push(recipeOf(d.extra));
      byMetric.set(name, list);
    }
  const comparable: Record<string, boolean> = {};
  for (const [name, recipes] of byMetric) comparable[name] = allRecipesMatch(recipes);
  return rows.map((row) => {
    const recipes: Record<string, string | null> = {};
    const flags: Record<string, boolean> = {};
    for (const [name, d] of Object.entries(row.details)) {
      recipes[name] = recipeId(recipeOf(d.extra));
      flags[name] = comparable[name];
    }
    return { ...row, recipes, comparable: flags };
  });
}

export type BestWithRecipe = BestResult & {
  /** Id of the selected value's recipe (null: recorded without one). */
  recipeId: string | null;
};

/** The store's best with the id of the selected value's recipe (`comparable` is the store's). */
export function bestWithRecipe(best: BestResult | null): BestWithRecipe | null {
  return best && { ...best, recipeId: recipeId(best.recipe) };
}

/** The store's points with recipe ids (null: none) in place of recipes, and the coefficients. */
export interface CorrelationResult extends CorrelationPoints<string | null> {
  n: number;
  /** null where undefined (one of the series is constant). */
  pearson: number | null;
  spearman: number | null;
  kendall: number | null;
  /**
   * True when all of a's values share one recipe and all of b's share one: each axis compares
   * like with like. False when a recipe differs between points or a value has none.
   */
  comparable: boolean;
  /** The one recipe id of a's (b's) values when they share one, else null. */
  recipeA: string | null;
  recipeB: string | null;
}

/** Pearson, Spearman and Kendall tau-b of the store's points (fid-core's `correlate`). */
export function correlationOf(p: CorrelationPoints): CorrelationResult {
  if (p.points.length < 3) {
    throw new FidlabError(
      ErrorCode.TOO_FEW_SAMPLES,
      `correlating ${p.a} with ${p.b} in sweep ${p.sweep} needs at least 3 epochs with both, found ${p.points.length}`,
    );
  }
  const c = correlate(
    p.points.map((q) => q.a),
    p.points.map((q) => q.b),
  );
  const uniformA = allRecipesMatch(p.points.map((q) => q.recipeA));
  const uniformB = allRecipesMatch(p.points.map((q) => q.recipeB));
  return {
    sweep: p.sweep,
    a: p.a,
    b: p.b,
    points: p.points.map((q) => ({
      ...q,
      recipeA: recipeId(q.recipeA),
      recipeB: recipeId(q.recipeB),
    })),
    n: p.points.length,
    // NaN (a constant series) travels as null: JSON has no NaN.
    pearson: Number.isNaN(c.pearson) ? null : c.pearson,
    spearman: Number.isNaN(c.spearman) ? null : c.spearman,
    kendall: Number.isNaN(c.kendall) ? null : c.kendall,
    comparable: uniformA && uniformB,
    recipeA: uniformA ? recipeId(p.points[0].recipeA) : null,
    recipeB: uniformB ? recipeId(p.points[0].recipeB) : null,
  };
}
