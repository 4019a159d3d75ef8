import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { chats, humanError, type Message, type Proposal, type User } from "../api";
import { mayHaveProposals, mergeProposal, proposalsKey } from "./proposalState";
import { formatDateTime } from "../i18n";
import { displayName } from "./directory";

interface Props {
  chatId: string;
  message: Message;
  byId: Map<string, User>;
}

/** The writes an AI answer proposed, with Apply / Decline for the pending ones. */
export function Proposals({ chatId, message, byId }: Props) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const key = proposalsKey(chatId, message.id);
  const list = useQuery({
    queryKey: key,
    queryFn: () => chats.proposals(chatId, message.id),
    enabled: mayHaveProposals(message),
    staleTime: Infinity,
  });
  const decide = useMutation({
    mutationFn: ({ id, verdict }: { id: string; verdict: "approve" | "reject" }) =>
      chats.decideProposal(chatId, id, verdict),
    onSuccess: (proposal) => queryClient.setQueryData<Proposal[]>(key, (old) => mergeProposal(old, proposal)),
    onError: () => void queryClient.invalidateQueries({ queryKey: key }),
  });
  const proposals = list.data ?? [];
  if (proposals.length === 0) return null;

  return (
    <section className="proposals" aria-label={t("proposal.title")} data-testid="proposals">
      <p className="muted small">{t("proposal.hint")}</p>
      <ul>
        {proposals.map((proposal) => (
          <li key={proposal.id} className={`proposal proposal-${proposal.status}`} data-testid="proposal" data-status={proposal.status}>
            <span className="proposal-summary">{proposal.summary}</span>
            <span className={`status status-${proposal.status}`} data-testid="proposal-status">
              {t(`proposal.status.${proposal.status}`, { defaultValue: proposal.status })}
            </span>
            {proposal.status === "pending" ? (
              <span className="row">
                <button
                  type="button"
                  className="primary"
                  data-testid="proposal-approve"
                  disabled={decide.isPending}
                  onClick={() => decide.mutate({ id: proposal.id, verdict: "approve" })}
                >
                  {t("proposal.approve")}
                </button>
                <button
                  type="button"
                  data-testid="proposal-reject"
                  disabled={decide.isPending}
                  onClick={() => decide.mutate({ id: proposal.id, verdict: "reject" })}
                >
                  {t("proposal.reject")}
                </button>
              </span>
            ) : (
              proposal.decided_at && (
                <span className="muted small">
                  {t("proposal.decided", {
                    name: displayName(byId.get(proposal.decided_by ?? "")),
                    when: formatDateTime(proposal.decided_at),
                  })}
                </span>
              )
            )}
            {proposal.status_reason && proposal.status !== "pending" && (
              <span className="muted small">{proposal.status_reason}</span>
            )}
          </li>
        ))}
      </ul>
      {decide.isError && (
        <p className="error small" role="alert">
          {humanError(decide.error, t)}
        </p>
      )}
    </section>
  );
}
