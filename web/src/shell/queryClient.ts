import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api";
import { clearBanner, showBanner } from "./banner";

export const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({
    onError: (error) => showBanner(error, () => void queryClient.refetchQueries({ type: "active" })),
    onSuccess: () => clearBanner(),
  }),
  mutationCache: new MutationCache({
    onError: (error, variables, _context, mutation) => {
      if (!mutation.meta?.quiet) showBanner(error, () => void mutation.execute(variables).catch(() => undefined));
    },
  }),
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      refetchOnWindowFocus: true,
      retry: (count, error) => error instanceof ApiError && error.retryable && count < 2,
    },
  },
});
